#!/usr/bin/env bash
# Runs a command from .venv/bin in the repo root after making sure the venv holds an install set (run, test or
# bench; scripts/common.sh ensure_venv), creating it if needed:  scripts/venv.sh run python -m priorauth check
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
[ $# -ge 2 ] || { echo "usage: scripts/venv.sh run|test|bench COMMAND [ARGS...]" >&2; exit 2; }
ensure_venv "$1"
shift
exec "$VENV/bin/$1" "${@:2}"
