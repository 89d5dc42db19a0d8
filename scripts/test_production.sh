#!/usr/bin/env bash
# The production layer (tests/production/): PostgreSQL and Redis from Debian's packages on loopback
# (scripts/services.sh), two Rasa replicas and two action servers behind a generated nginx round-robin
# front, and against them: scale-out (50 concurrent 12-turn conversations, trackers and drafts read back),
# the lock store under contention, request checks and limits, a fuzz run, PHI in logs, and faults (action
# server, knowledge database, tracker database and Redis cut away, a replica killed). First, the deployment
# files: deploy/docker-compose.yml validated by `docker-compose config` (Debian's docker-compose 1.29, installed
# if missing), then deploy/nginx.conf, scripts/services.sh, deploy/endpoints.prod.yml run for real.
# Figures go to results/production/figures.json. About 3.5-7.5 minutes on 2 shared cores.
#
#   scripts/test_production.sh [pytest args]
# Environment: PRIORAUTH_MODEL (default: the hash-named model, trained if missing), PRIORAUTH_PROD_CONVERSATIONS
# (50), PRIORAUTH_FUZZ_INPUTS (600 generated inputs over the 3 channels), PRIORAUTH_FUZZ_SEED, PRIORAUTH_PROD_DEBUG_REPLICA (1: rasa-2 and actions-2 log at DEBUG).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
START=$SECONDS
ensure_venv test

# Debian's docker-compose (1.29), the way scripts/services.sh installs its packages: as root with apt-get,
# updating the package lists only when they are absent or the install fails with stale ones.
ensure_docker_compose() {
    command -v docker-compose >/dev/null && return 0
    [[ $EUID -eq 0 ]] || { echo "docker-compose missing and not root: run 'apt-get install -y docker-compose' as root" >&2; exit 2; }
    command -v apt-get >/dev/null || { echo "docker-compose missing and no apt-get on this machine" >&2; exit 2; }
    log "installing docker-compose"
    local apt_opts=(-y -qq -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
                    --no-install-recommends)
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update -qq >/dev/null
        apt-get install "${apt_opts[@]}" docker-compose >/dev/null
    elif ! apt-get install "${apt_opts[@]}" docker-compose >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install "${apt_opts[@]}" docker-compose >/dev/null
    fi
    command -v docker-compose >/dev/null || { echo "docker-compose still missing after apt-get install" >&2; exit 2; }
}

# `docker-compose config` on deploy/docker-compose.yml: with every variable it requires (${VAR:?...}) set to a
# dummy value it must pass; with none of them it must refuse (secrets are required, never defaulted). No .env
# file is read, and nothing of the rendered file is printed (no values leak into the log).
check_compose() {
    local file="$ROOT/deploy/docker-compose.yml" vars=() name out
    mapfile -t vars < <(grep -oE '\$\{[A-Z_][A-Z0-9_]*:\?' "$file" | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
    [[ ${#vars[@]} -gt 0 ]] || { echo "compose: no required variables found in $file" >&2; exit 1; }
    local dummies=()
    for name in "${vars[@]}"; do dummies+=("$name=dummy-$name"); done
    local no_env
    no_env="$(mktemp)"
    local compose=(docker-compose --env-file "$no_env" --project-directory "$ROOT/deploy" -f "$file")
    if ! out="$(env -i PATH="$PATH" HOME="${HOME:-/root}" "${dummies[@]}" "${compose[@]}" config -q 2>&1)"; then
        rm -f "$no_env"
        echo "docker-compose config failed on deploy/docker-compose.yml:" >&2
        echo "$out" >&2
        exit 1
    fi
    if env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose[@]}" config -q >/dev/null 2>&1; then
        rm -f "$no_env"
        echo "docker-compose config accepted deploy/docker-compose.yml without its secrets" >&2
        exit 1
    fi
    rm -f "$no_env"
    log "docker-compose config: deploy/docker-compose.yml valid ($(docker-compose version --short); required: ${vars[*]})"
}

ensure_docker_compose
check_compose

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
    tests/production/test_soak.py tests/production/test_faults.py tests/production/test_kill_midturn.py "$@"
log "production layer passed in $((SECONDS - START)) s"
