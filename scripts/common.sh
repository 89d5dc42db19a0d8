# Shared by the project's scripts: the project root, the virtual environment, the Python check.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
RUN_DIR="${PRIORAUTH_RUN_DIR:-$ROOT/.run}"
mkdir -p "$RUN_DIR/logs"
export PRIORAUTH_RUN_DIR="$RUN_DIR"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Quieter TensorFlow and no telemetry.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" RASA_TELEMETRY_ENABLED=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1

log() { printf '\033[1m[%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }

find_python310() {
  local candidates=(python3.10)
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
    [ -n "$v" ] && candidates=("$(pyenv root)/versions/$v/bin/python3.10" "${candidates[@]}")
  fi
  candidates+=(python3 python)
  local c
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  local stamp="$VENV/.installed" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-${1:-test}"
  if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$PY" ]; then
    local py310
    if ! py310="$(find_python310)"; then
      echo "Python 3.10 is required: Rasa 3.6 supports Python 3.8-3.10 only and does not install on 3.11." >&2
      echo "Install it with pyenv:  pyenv install 3.10.13   (the repo's .python-version then selects it)" >&2
      echo "or with your package manager (python3.10 and python3.10-venv), then run this command again." >&2
      exit 1
    fi
    log "creating the virtual environment with $py310"
    "$py310" -m venv "$VENV"
  fi
  log "installing dependencies (about 2 minutes the first time)"
  "$PY" -m pip install --quiet --upgrade "pip<25" wheel "setuptools==70.3.0"
  "$PY" -m pip install --quiet -e "$ROOT[${1:-test}]"
  echo "$want" > "$stamp"
}

# The model's name is a hash of everything training reads: reuse it while nothing changed.
model_hash() {
  (cd "$ROOT" && cat config.yml domain.yml \
     $(find data/nlu data/rules data/stories data/authorization addons/kb_entity_extractor.py priorauth/nlu \
 priorauth/kb/terms.py priorauth/kb/reader.py priorauth/kb/loader.py -type f \( -name '*.yml' -o -name '*.py' \) | sort) \
     | sha256sum | cut -c1-16)
}

ensure_model() {
  local name model
  name="priorauth-$(model_hash)"
  model="$ROOT/models/$name.tar.gz"
  if [ -f "$model" ]; then
    log "model up to date: models/$name.tar.gz" >&2
  else
    log "training the model (about a minute on 2 cores)" >&2
    local start=$SECONDS
    (cd "$ROOT" && "$VENV/bin/rasa" train --data data/nlu data/rules data/stories --domain domain.yml \
        --config config.yml --out models --fixed-model-name "$name" >"$RUN_DIR/logs/train.log" 2>&1) || {
      tail -n 40 "$RUN_DIR/logs/train.log" >&2; echo "training failed: see $RUN_DIR/logs/train.log" >&2; exit 1; }
    log "trained in $((SECONDS - start)) s: models/$name.tar.gz ($(du -h "$model" | cut -f1))" >&2
  fi
  echo "$model"
}
