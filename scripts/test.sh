#!/usr/bin/env bash
# Sets up and runs the whole test suite, in order: lint (ruff), knowledge-base check, rasa data validate, unit tests,
# one training, rasa test on the test stories and the held-out NLU set, then end-to-end tests against
# real servers (REST, PostgreSQL, headless browser). One model per run, reused by every later layer.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
START=$SECONDS
ensure_venv test
export PRIORAUTH_REQUIRE_E2E=1

log "1/7 lint: ruff check and ruff format --check"
bash scripts/lint.sh

log "services: PostgreSQL and Redis for the tests (Debian packages)"
if bash scripts/services.sh start; then
  # shellcheck disable=SC1091
  source "$RUN_DIR/services/env"
else
  log "services could not start here: the PostgreSQL and Redis tests will fail at once with that reason"
fi

bash scripts/web.sh --browser || log "web setup failed (see above): the browser tests will fail with the reason"

log "2/7 knowledge-base data check"
"$PY" -m priorauth check

log "3/7 rasa data validate"
"$PY" scripts/validate_data.py

log "4/7 unit tests"
"$PY" -m pytest tests/unit -q -p no:cacheprovider

log "5/7 model"
MODEL="$(ensure_model)"
export PRIORAUTH_MODEL="$MODEL"

log "6/7 rasa test: test stories (end to end through NLU and dialogue) and the held-out NLU set"
rm -rf results && mkdir -p results
"$VENV/bin/rasa" test core --stories tests/stories --model "$MODEL" --fail-on-prediction-errors \
    --out results/stories >"$RUN_DIR/logs/test-stories.log" 2>&1 || {
  tail -n 30 "$RUN_DIR/logs/test-stories.log"; cat results/stories/failed_test_stories.yml 2>/dev/null | head -80
  echo "test stories failed"; exit 1; }
grep -E "Correct:|Accuracy:" "$RUN_DIR/logs/test-stories.log" | head -4 || true
"$VENV/bin/rasa" test nlu --nlu tests/nlu/heldout.yml --model "$MODEL" --out results/nlu \
    >"$RUN_DIR/logs/test-nlu.log" 2>&1 || { tail -n 30 "$RUN_DIR/logs/test-nlu.log"; exit 1; }
"$PY" scripts/nlu_report.py results/nlu --min-intent-accuracy "${PRIORAUTH_MIN_INTENT_ACCURACY:-0.85}"

log "7/7 end-to-end tests (real servers on free ports)"
"$PY" -m pytest tests/e2e tests/browser -q -p no:cacheprovider
bash scripts/test_production.sh  # production layer: 2 replicas on PostgreSQL + Redis behind nginx, faults, fuzz (~4-7 min)
log "all tests passed in $((SECONDS - START)) s"
