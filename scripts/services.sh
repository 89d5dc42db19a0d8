#!/usr/bin/env bash
# Local test services: PostgreSQL and Redis on free loopback ports, state under .run/services/.
#
#   scripts/services.sh start    install Debian packages if missing, start (or reuse) the servers,
#                                write .run/services/env
#   scripts/services.sh stop     stop them (data is kept; the env file is removed)
#   scripts/services.sh status   print their state; exit 0 only if both run
#   scripts/services.sh env      print the env file (eval "$(scripts/services.sh env)")
#
# Environment: PRIORAUTH_PG_PORT / PRIORAUTH_REDIS_PORT force a port; PRIORAUTH_SERVICES_DIR moves
# the state directory (default <repo>/.run/services).
#
# These servers are for tests only: trust authentication on 127.0.0.1, fsync off, no Redis
# persistence. Never point anything real at them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${PRIORAUTH_SERVICES_DIR:-$ROOT/.run/services}"
ENV_FILE="$RUN/env"
PG_DIR="$RUN/pg"
REDIS_DIR="$RUN/redis"
PG_DATABASES=(priorauth_test rasa_tracker)
HOST=127.0.0.1

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $1"; exit "${2:-1}"; }

# --- packages ---------------------------------------------------------------------------------

pg_bindir() {
    local d
    if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
        echo /usr/lib/postgresql/15/bin
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
    done
    return 1
}

missing_packages() {
    local missing=()
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
    [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || missing+=(nginx)
    echo "${missing[@]:-}"
}

ensure_packages() {
    local missing
    missing="$(missing_packages)"
    [[ -z "$missing" ]] && return 0
    if [[ $EUID -ne 0 ]]; then
        die "missing packages ($missing) and not root: run 'apt-get install -y postgresql redis-server nginx' as root" 2
    fi
    command -v apt-get >/dev/null || die "missing packages ($missing) and no apt-get on this machine" 2
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -qq -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
                    --no-install-recommends)
    log "installing postgresql redis-server nginx (missing: $missing)"
    # Update the package lists once, only when they are absent or the install fails with stale ones.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update -qq >/dev/null
        apt-get install "${apt_opts[@]}" postgresql redis-server nginx >/dev/null
    elif ! apt-get install "${apt_opts[@]}" postgresql redis-server nginx >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install "${apt_opts[@]}" postgresql redis-server nginx >/dev/null
    fi
    missing="$(missing_packages)"
    [[ -z "$missing" ]] || die "still missing after apt-get install: $missing" 2
    log "packages installed in $((SECONDS - t0))s"
}

# --- helpers ----------------------------------------------------------------------------------

port_in_use() {
    # A connection that succeeds means something listens there.
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

# Run a command as the PostgreSQL owner: the postgres user when we are root (PostgreSQL refuses
# to run as root), ourselves otherwise.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_port() { cat "$PG_DIR/port" 2>/dev/null || true; }
redis_port() { cat "$REDIS_DIR/port" 2>/dev/null || true; }

pg_running() {
    local bin
    bin="$(pg_bindir)" || return 1
    [[ -f "$PG_DIR/data/PG_VERSION" ]] || return 1
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1 || return 1
    local port
    port="$(pg_port)"
    [[ -n "$port" ]] && "$bin/pg_isready" -q -h "$HOST" -p "$port" -t 2
}

redis_running() {
    local port
    port="$(redis_port)"
    [[ -n "$port" ]] || return 1
    [[ "$(redis-cli -h "$HOST" -p "$port" ping 2>/dev/null)" == "PONG" ]]
}

# --- PostgreSQL -------------------------------------------------------------------------------

prepare_pg_dir() {
    mkdir -p "$PG_DIR"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$PG_DIR"
        chmod 0700 "$PG_DIR"
        # Every directory above must be enterable by postgres (e.g. a checkout under /root is not).
        if ! runuser -u postgres -- test -x "$PG_DIR"; then
            die "the postgres user cannot enter $PG_DIR; set PRIORAUTH_SERVICES_DIR to a path it can reach (e.g. /var/tmp/priorauth-services)" 2
        fi
    fi
}

start_pg() {
    local bin port
    bin="$(pg_bindir)" || die "PostgreSQL binaries not found"
    if pg_running; then
        log "PostgreSQL already running on port $(pg_port)"
        return 0
    fi
    prepare_pg_dir
    if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
        as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync \
            >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    # A server left over from an earlier run whose port we lost: stop it first.
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1 \
        && as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true

    local attempt
    for attempt in 1 2 3; do
        port="${PRIORAUTH_PG_PORT:-$(free_port)}"
        # TCP on loopback only, no Unix socket (no path-length or permission trouble);
        # durability settings off because this is a throwaway test server.
        if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
                -o "-p $port -c listen_addresses=$HOST -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
                start >/dev/null 2>&1 9>&-; then
            echo "$port" >"$PG_DIR/port"
            break
        fi
        [[ -n "${PRIORAUTH_PG_PORT:-}" || $attempt -eq 3 ]] && {
            tail -n 20 "$PG_DIR/server.log" >&2 || true
            die "PostgreSQL did not start on port $port"
        }
    done
    log "PostgreSQL started on port $port"
}

create_databases() {
    local bin port db
    bin="$(pg_bindir)"
    port="$(pg_port)"
    for db in "${PG_DATABASES[@]}"; do
        if [[ "$("$bin/psql" -h "$HOST" -p "$port" -U postgres -d postgres -tAc \
                "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]]; then
            "$bin/createdb" -h "$HOST" -p "$port" -U postgres "$db"
        fi
    done
}

stop_pg() {
    local bin
    bin="$(pg_bindir)" || return 0
    [[ -f "$PG_DIR/data/PG_VERSION" ]] || return 0
    if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
        as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
        log "PostgreSQL stopped"
    fi
}

# --- Redis ------------------------------------------------------------------------------------

start_redis() {
    if redis_running; then
        log "Redis already running on port $(redis_port)"
        return 0
    fi
    stop_redis_pidfile
    mkdir -p "$REDIS_DIR"
    local port attempt i
    for attempt in 1 2 3; do
        port="${PRIORAUTH_REDIS_PORT:-$(free_port)}"
        redis-server --port "$port" --bind "$HOST" --save '' --appendonly no --daemonize yes \
            --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
            >/dev/null 2>&1 9>&- || true
        for i in $(seq 1 50); do
            [[ "$(redis-cli -h "$HOST" -p "$port" ping 2>/dev/null)" == "PONG" ]] && {
                echo "$port" >"$REDIS_DIR/port"
                log "Redis started on port $port"
                return 0
            }
            sleep 0.1
        done
        [[ -n "${PRIORAUTH_REDIS_PORT:-}" ]] && break
    done
    tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
    die "Redis did not start"
}

stop_redis_pidfile() {
    local pid
    pid="$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
            && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$REDIS_DIR/redis.pid"
}

stop_redis() {
    local port
    port="$(redis_port)"
    if [[ -n "$port" ]] && redis_running; then
        redis-cli -h "$HOST" -p "$port" shutdown nosave >/dev/null 2>&1 || true
        log "Redis stopped"
    fi
    stop_redis_pidfile
}

# --- env file ---------------------------------------------------------------------------------

write_env() {
    local pg redis tmp
    pg="$(pg_port)"
    redis="$(redis_port)"
    tmp="$(mktemp "$RUN/env.XXXXXX")"
    cat >"$tmp" <<EOF
# Written by scripts/services.sh start; removed by stop. Test servers only.
export PRIORAUTH_TEST_PG_HOST=$HOST
export PRIORAUTH_TEST_PG_PORT=$pg
export PRIORAUTH_TEST_PG_USER=postgres
export PRIORAUTH_TEST_PG_BIN=$(pg_bindir)
export PRIORAUTH_TEST_PG_URL=postgresql+psycopg2://postgres@$HOST:$pg/priorauth_test
export PRIORAUTH_TEST_TRACKER_PG_DB=rasa_tracker
export PRIORAUTH_TEST_TRACKER_PG_URL=postgresql+psycopg2://postgres@$HOST:$pg/rasa_tracker
export PRIORAUTH_TEST_REDIS_HOST=$HOST
export PRIORAUTH_TEST_REDIS_PORT=$redis
export PRIORAUTH_TEST_REDIS_URL=redis://$HOST:$redis/0
EOF
    chmod 0644 "$tmp"
    mv "$tmp" "$ENV_FILE"
}

# --- commands ---------------------------------------------------------------------------------

with_lock() {
    mkdir -p "$RUN"
    exec 9>"$RUN/.lock"
    flock -w 120 9 || die "another services.sh is still running"
}

cmd_start() {
    local t0=$SECONDS
    with_lock  # also keeps two concurrent starts from racing apt-get
    ensure_packages
    start_pg
    create_databases
    start_redis
    write_env
    log "ready in $((SECONDS - t0))s; env: $ENV_FILE"
}

cmd_stop() {
    with_lock
    stop_redis
    stop_pg
    rm -f "$ENV_FILE"
}

cmd_status() {
    local rc=0
    if pg_running; then
        echo "postgresql: running on $HOST:$(pg_port) (data $PG_DIR/data)"
    else
        echo "postgresql: stopped"
        rc=3
    fi
    if redis_running; then
        echo "redis: running on $HOST:$(redis_port)"
    else
        echo "redis: stopped"
        rc=3
    fi
    if [[ -f "$ENV_FILE" ]]; then echo "env: $ENV_FILE"; else echo "env: (none)"; fi
    return $rc
}

cmd_env() {
    [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE: run '$0 start' first" 3
    cat "$ENV_FILE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 64
        ;;
esac
