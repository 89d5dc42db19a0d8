#!/usr/bin/env bash
# Lint: ruff's checks and its formatting check over the whole repo (pyproject.toml [tool.ruff]); a step of
# scripts/test.sh. With --fix it formats and applies ruff's safe fixes instead.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
ensure_venv test
if [ "${1:-}" = "--fix" ]; then
  "$VENV/bin/ruff" format . && "$VENV/bin/ruff" check --fix .
else
  "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
fi
