#!/usr/bin/env bash
# Trains the model if its inputs changed since the last one; prints the model's path.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_venv run
ensure_model
