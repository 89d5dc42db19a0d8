#!/usr/bin/env bash
# Sets up, trains if needed, and runs the assistant with embedded defaults: action server + Rasa server
# (REST, socket.io, agent panel), SQLite for knowledge, drafts and tracker, in-memory lock store.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RASA_PORT="${RASA_PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"

ensure_venv test
MODEL="$(ensure_model)"
export ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://127.0.0.1:$ACTIONS_PORT/webhook}"
export RASA_TRACKER_DB="${RASA_TRACKER_DB:-$RUN_DIR/tracker.db}"
bash "$ROOT/scripts/web.sh" || log "the web chat widget could not be installed (see above): /web/ has no chat"
"$PY" -m priorauth load

pids=()
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

log "starting the action server on :$ACTIONS_PORT (log: $RUN_DIR/logs/actions.log)"
"$VENV/bin/rasa" run actions --actions actions --port "$ACTIONS_PORT" >"$RUN_DIR/logs/actions.log" 2>&1 &
pids+=($!)
log "starting the Rasa server on :$RASA_PORT (log: $RUN_DIR/logs/rasa.log)"
(cd "$ROOT" && exec "$VENV/bin/rasa" run --model "$MODEL" --port "$RASA_PORT" --endpoints endpoints.yml \
    --credentials credentials.yml --cors "${PRIORAUTH_CORS_ORIGINS:-http://localhost:$RASA_PORT}" \
    --log-file "$RUN_DIR/logs/rasa.log") >"$RUN_DIR/logs/rasa.out" 2>&1 &
pids+=($!)

"$PY" "$ROOT/scripts/wait_ready.py" "http://127.0.0.1:$RASA_PORT" "http://127.0.0.1:$ACTIONS_PORT/health" || {
  echo "the servers did not start: see $RUN_DIR/logs/" >&2; exit 1; }
cat <<MSG

  The assistant is running.
    REST:       curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"how long is a pain management approval valid?"}'
    Web chat:   http://localhost:$RASA_PORT/web/
    Agent panel http://localhost:$RASA_PORT/web/agent.html
    Logs:       $RUN_DIR/logs/
  Press Ctrl-C to stop both servers.

MSG
wait -n "${pids[@]}"
log "a server stopped; see $RUN_DIR/logs/"
