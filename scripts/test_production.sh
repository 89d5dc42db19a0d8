#!/usr/bin/env bash
# The production layer (tests/production/): PostgreSQL and Redis from Debian's packages on loopback
# (scripts/services.sh), two Rasa replicas and two action servers behind a generated nginx round-robin
# front, and against them: scale-out (50 concurrent 12-turn conversations, trackers and drafts read back),
# the lock store under contention, request checks and limits, a fuzz run, PHI in logs, and faults (action
# server, knowledge database, tracker database and Redis cut away, a replica killed). First, the deployment
# files run for real: deploy/nginx.conf, scripts/services.sh, deploy/endpoints.prod.yml.
# Figures go to results/production/figures.json. About 3.5-7.5 minutes on 2 shared cores.
#
#   scripts/test_production.sh [pytest args]
# Environment: PRIORAUTH_MODEL (default: the hash-named model, trained if missing), PRIORAUTH_PROD_CONVERSATIONS
# (50), PRIORAUTH_FUZZ_TEXTS (1500), PRIORAUTH_PROD_DEBUG_REPLICA (1: rasa-2 and actions-2 log at DEBUG).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
START=$SECONDS
ensure_venv test

bash scripts/services.sh start
# shellcheck disable=SC1091
source "$RUN_DIR/services/env"
export PRIORAUTH_MODEL="${PRIORAUTH_MODEL:-$(ensure_model)}"
export PRIORAUTH_REQUIRE_PRODUCTION=1

log "production layer: $(basename "$PRIORAUTH_MODEL")"
# Server-free checks first, then one cluster for the rest; the faults last (they kill a replica).
"$PY" -m pytest -q -p no:cacheprovider \
    tests/production/test_deploy_services.py tests/production/test_lock_store.py tests/production/test_security.py \
    tests/production/test_scale_out.py tests/production/test_fuzz.py tests/production/test_phi_logs.py \
    tests/production/test_faults.py "$@"
log "production layer passed in $((SECONDS - START)) s"
