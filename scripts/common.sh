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

# Install sets, each holding the one before: run (what running needs), test (+ pytest, Playwright, ruff), bench
# (+ the benchmarks' libraries). Each installs from its lock file with hashes, requirements/<set>.lock (made by
# scripts/lock.sh), then the project itself without dependencies. The stamp records the set, its lock's hash and
# pyproject.toml's, so a changed lock reinstalls and a smaller set never downgrades a larger one.
set_rank() {
  case "$1" in run) echo 1 ;; test) echo 2 ;; bench) echo 3 ;; *) echo "unknown install set: $1" >&2; exit 2 ;; esac
}
lock_hash() { sha256sum <"$ROOT/requirements/$1.lock" | cut -c1-16; }
project_hash() { sha256sum <"$ROOT/pyproject.toml" | cut -c1-16; }

# Succeeds when the venv holds SET (or a larger set) installed from the current lock files.
venv_ready() {
  local want="$1" have_set="" have_lock="" have_project=""
  [ -x "$PY" ] && [ -f "$VENV/.installed" ] || return 1
  read -r have_set have_lock have_project <"$VENV/.installed" || true
  case "$have_set" in run | test | bench) ;; *) return 1 ;; esac
  [ "$(set_rank "$have_set")" -ge "$(set_rank "$want")" ] && [ "$have_lock" = "$(lock_hash "$have_set")" ] \
    && [ "$have_project" = "$(project_hash)" ]
}

# One line for scripts/run.sh --dry-run: what ensure_venv would do, without doing it.
venv_status() {
  if venv_ready "$1"; then
    echo "up to date ($(cut -d' ' -f1 "$VENV/.installed") set, requirements/$(cut -d' ' -f1 "$VENV/.installed").lock)"
  else
    echo "would install the $1 set from requirements/$1.lock into .venv"
  fi
}

ensure_venv() {
  local wanted="${1:-test}"
  set_rank "$wanted" >/dev/null
  venv_ready "$wanted" && return 0
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
  log "installing the $wanted set from requirements/$wanted.lock (about 2 minutes the first time)"
  rm -f "$VENV/.installed"
  local pip=("$PY" -m pip install --quiet --disable-pip-version-check)
  # setuptools and wheel first, from the lock: the few sdists in it (docopt, ...) and the project build with them.
  grep -A1 -E '^(setuptools|wheel)==' "$ROOT/requirements/$wanted.lock" | grep -v '^--$' >"$VENV/bootstrap.lock"
  "${pip[@]}" --require-hashes -r "$VENV/bootstrap.lock"
  "${pip[@]}" --require-hashes -r "$ROOT/requirements/$wanted.lock"
  "${pip[@]}" --no-deps --no-build-isolation -e "$ROOT"
  echo "$wanted $(lock_hash "$wanted") $(project_hash)" >"$VENV/.installed"
}

# The model's name is a hash of everything training reads, the resolved versions (run.lock) included: reuse it
# while nothing changed.
model_hash() {
  (cd "$ROOT" && cat config.yml domain.yml requirements/run.lock \
     $(find data/nlu data/rules data/stories data/authorization addons/kb_entity_extractor.py addons/reference_tokenizer.py \
 priorauth/drafts/references.py priorauth/nlu \
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
