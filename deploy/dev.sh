#!/usr/bin/env bash
# taskmaster's developer entry point.
#
#   ./deploy/dev.sh up     start Redis, PostgreSQL, syncd and the api locally
#                          (data under .data/, Ctrl-C stops everything)
#   ./deploy/dev.sh test   run the whole test suite (the harness starts its
#                          own throwaway Redis and PostgreSQL)
#
# Both install Redis and PostgreSQL from the OS packages when they are
# missing (as root; otherwise they print the command to run and stop).
#
# Configuration comes from the environment, with the same defaults as the
# binaries: SERVER_PORT=7890 REDIS_PORT=6380 DB_PORT=5433, OWNER_PASSWORD,
# SYNC_INTERVAL, ... ; TASKMASTER_DATA moves the data folder and
# TASKMASTER_PROFILE=dev|release picks the build (default release for up).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Bold (red for errors) only on a terminal: a log file gets plain text.
if [ -t 2 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BOLD='' RED='' PLAIN=''; fi
say() { printf '%s[taskmaster]%s %s\n' "$BOLD" "$PLAIN" "$*" >&2 2>/dev/null || true; }
die() { printf '%s[taskmaster]%s %s\n' "$RED" "$PLAIN" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- prerequisites -----------------------------------------------------------

# Debian keeps the server binaries out of PATH, in /usr/lib/postgresql/N/bin.
find_pg_bin() {
    if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/postgres" ]; then echo "$PG_BIN"; return 0; fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    if command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v postgres)"; return 0
    fi
    return 1
}

find_redis() {
    command -v redis-server 2>/dev/null || { [ -x /usr/bin/redis-server ] && echo /usr/bin/redis-server; }
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 || die "Rust is not installed: see https://rustup.rs, then run this again."
}

ensure_packages() {
    local missing=()
    find_redis >/dev/null || missing+=(redis-server)
    find_pg_bin >/dev/null || missing+=(postgresql)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    # The tests read JSON log lines with jq, as a log collector would.
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! is_root; then
        die "missing: ${missing[*]}. Install them with:
    sudo apt-get update && sudo apt-get install -y ${missing[*]}
then run this command again."
    fi
    say "installing ${missing[*]} from the OS packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    find_redis >/dev/null || die "redis-server is still missing after the install"
    find_pg_bin >/dev/null || die "PostgreSQL is still missing after the install"
}

# As root, PostgreSQL must run as the `postgres` user (it refuses root).
as_pg() {
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
        else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2; shift 2
    local i
    for ((i = 0; i < limit * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$what did not come up within ${limit}s"
}

http_get_status() { # http_get_status PORT PATH -> prints the status code
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
    local line
    IFS= read -r -t 5 line <&3 || { exec 3<&-; return 1; }
    exec 3<&-
    line=${line#HTTP/1.? }
    echo "${line%% *}"
}

health_ok() { [ "$(http_get_status "$SERVER_PORT" /health 2>/dev/null)" = "200" ]; }

# --- test --------------------------------------------------------------------

cmd_test() {
    ensure_rust
    ensure_packages
    PG_BIN=$(find_pg_bin)
    export PG_BIN
    say "building the binaries the end-to-end tests run"
    cargo build --workspace --bins --locked
    say "running the test suite"
    local log status passed failed
    log=$(mktemp)
    set +e
    cargo test --workspace --locked "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
    failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
    rm -f "$log"
    echo "tests: $passed passed, $failed failed"
    return "$status"
}

# --- up ----------------------------------------------------------------------

cmd_up() {
    ensure_rust
    ensure_packages

    export SERVER_PORT=${SERVER_PORT:-7890}
    export REDIS_PORT=${REDIS_PORT:-6380}
    export DB_PORT=${DB_PORT:-5433}
    export POSTGRES_USER=${POSTGRES_USER:-taskmaster}
    export POSTGRES_DB=${POSTGRES_DB:-taskmaster}
    # Globals, not locals: stop_all runs from traps, also after cmd_up
    # has returned.
    data=${TASKMASTER_DATA:-$ROOT/.data}
    export BACKUP_DIR=${BACKUP_DIR:-$data/backups}
    local profile=${TASKMASTER_PROFILE:-release}
    pg_bin='' redis_bin=''
    pg_bin=$(find_pg_bin)
    redis_bin=$(find_redis)
    mkdir -p "$data/redis" "$data/logs"

    # PostgreSQL's data must be reachable by the postgres user; a checkout
    # under /root is not, so its data then lives in /var/lib/taskmaster-dev
    # with a link from .data/postgres.
    pgdata="$data/postgres"
    if is_root && [ ! -e "$pgdata" ] && ! runuser -u postgres -- test -x "$data" 2>/dev/null; then
        local elsewhere
        elsewhere=/var/lib/taskmaster-dev/$(printf '%s' "$data" | cksum | cut -d' ' -f1)
        mkdir -p "$elsewhere"
        chown postgres: "$elsewhere"
        ln -sfn "$elsewhere" "$pgdata"
        say "PostgreSQL data lives in $elsewhere (linked from $pgdata): postgres cannot read $data"
    fi
    mkdir -p "$pgdata"
    is_root && chown postgres: "$pgdata" && chmod 700 "$pgdata"
    pgdata=$(cd "$pgdata" && pwd -P)

    # Ports: reuse our own servers if a previous run left them up; refuse
    # anything else on them.
    redis_pidfile="$data/redis/redis.pid"
    local redis_ours=0 pg_ours=0
    if [ -f "$redis_pidfile" ] && kill -0 "$(cat "$redis_pidfile")" 2>/dev/null && port_busy "$REDIS_PORT"; then
        redis_ours=1
    fi
    if [ -f "$pgdata/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        pg_ours=1
    fi
    if port_busy "$SERVER_PORT"; then
        die "port $SERVER_PORT (SERVER_PORT) is already in use by another process: stop it or set SERVER_PORT=<free port>"
    fi
    if [ $redis_ours -eq 0 ] && port_busy "$REDIS_PORT"; then
        die "port $REDIS_PORT (REDIS_PORT) is already in use by another process: stop it or set REDIS_PORT=<free port>"
    fi
    if [ $pg_ours -eq 0 ] && port_busy "$DB_PORT"; then
        die "port $DB_PORT (DB_PORT) is already in use by another process: stop it or set DB_PORT=<free port>"
    fi

    say "building taskmaster ($profile)"
    local profile_flag=() target_dir=debug
    if [ "$profile" = release ]; then profile_flag=(--release); target_dir=release; fi
    cargo build -p taskmaster-api -p taskmaster-syncd --bins "${profile_flag[@]}"

    # Redis ACL users, as production has them (deploy/redis/render-acl.sh):
    # the api and syncd each connect as their own restricted user, with
    # passwords made once for this checkout. The default user stays open on
    # loopback, for redis-cli.
    local acl_env="$data/redis/acl.env" prefix=${REDIS_KEY_PREFIX:-tm:}
    if [ ! -f "$acl_env" ]; then
        (umask 077; printf 'API_REDIS_PASSWORD=%s\nSYNCD_REDIS_PASSWORD=%s\n' \
            "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
            "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$acl_env")
    fi
    # shellcheck disable=SC1090
    . "$acl_env"
    API_REDIS_PASSWORD=$API_REDIS_PASSWORD SYNCD_REDIS_PASSWORD=$SYNCD_REDIS_PASSWORD \
        "$ROOT/deploy/redis/render-acl.sh" "$prefix" "user default on nopass ~* &* +@all" \
        >"$data/redis/users.acl"

    # Redis: the primary store, so AOF on (fsync every second) and never
    # evict. It daemonizes into its own session, so Ctrl-C reaches only the
    # script, which stops it last.
    if [ $redis_ours -eq 1 ]; then
        say "reusing the Redis already running on port $REDIS_PORT"
        redis-cli -p "$REDIS_PORT" acl load >/dev/null 2>&1 \
            || say "warning: that Redis was not started with the ACL file; restart it (dev.sh down) to use the ACL users"
    else
        say "starting Redis on 127.0.0.1:$REDIS_PORT (data in $data/redis)"
        "$redis_bin" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$data/redis" \
            --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
            --aclfile "$data/redis/users.acl" \
            --daemonize yes --pidfile "$redis_pidfile" --logfile "$data/redis/redis.log"
        wait_for 20 "Redis" port_busy "$REDIS_PORT"
    fi

    if [ ! -f "$pgdata/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $pgdata"
        as_pg "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if [ $pg_ours -eq 1 ]; then
        say "reusing the PostgreSQL already running on port $DB_PORT"
    else
        say "starting PostgreSQL on 127.0.0.1:$DB_PORT"
        as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
            -o "-p $DB_PORT -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null
    fi
    local psql=(psql -h 127.0.0.1 -p "$DB_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$POSTGRES_USER'")" ]; then
        "${psql[@]}" -c "CREATE ROLE \"$POSTGRES_USER\" LOGIN"
    fi
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DB'")" ]; then
        "${psql[@]}" -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""
    fi

    export REDIS_HOST=127.0.0.1 DB_HOST=127.0.0.1
    export SERVER_HOST=${SERVER_HOST:-127.0.0.1}
    local bin="$ROOT/target/$target_dir"
    syncd_pid='' api_pid=''
    local redis_at="127.0.0.1:$REDIS_PORT/0"
    REDIS_URL="redis://taskmaster-syncd:$SYNCD_REDIS_PASSWORD@$redis_at" "$bin/taskmaster-syncd" &
    syncd_pid=$!
    REDIS_URL="redis://taskmaster-api:$API_REDIS_PASSWORD@$redis_at" "$bin/taskmaster-api" &
    api_pid=$!

    stopping=0
    stop_all() {
        [ "$stopping" -eq 1 ] && return
        stopping=1
        trap '' INT TERM HUP PIPE
        say "stopping"
        kill -TERM "$api_pid" "$syncd_pid" 2>/dev/null || true
        # Both drain within their SHUTDOWN_GRACE; never wait forever.
        for _ in $(seq 1 400); do
            kill -0 "$api_pid" 2>/dev/null || kill -0 "$syncd_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$api_pid" "$syncd_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
        wait "$syncd_pid" 2>/dev/null || true
        as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
        if [ -f "$redis_pidfile" ]; then
            local rpid
            rpid=$(cat "$redis_pidfile")
            kill -TERM "$rpid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
        fi
        say "stopped; data kept in $data"
    }
    trap 'stop_all; exit 0' INT TERM HUP
    trap 'stop_all' EXIT

    local i
    for ((i = 0; i < 600; i++)); do
        health_ok && break
        kill -0 "$api_pid" 2>/dev/null || die "the api exited; see its output above"
        sleep 0.1
    done
    health_ok || die "the api did not answer /health within 60s"

    local owner_pw_note="the OWNER_PASSWORD you set"
    [ -z "${OWNER_PASSWORD:-}" ] && owner_pw_note="admin1234 (the default; set OWNER_PASSWORD)"
    cat >&2 <<EOF

  taskmaster is running at http://127.0.0.1:$SERVER_PORT

  Owner:  curl -H 'X-Owner-Password: <owner password>' http://127.0.0.1:$SERVER_PORT/users
          (owner password: $owner_pw_note)
  Users:  curl -u '<user id or email>:<password>' http://127.0.0.1:$SERVER_PORT/users/<id>
  Health: curl http://127.0.0.1:$SERVER_PORT/health
  Ops:    REDIS_PORT=$REDIS_PORT DB_PORT=$DB_PORT BACKUP_DIR=$BACKUP_DIR \\
            $bin/taskmaster-ctl status|force|backup|restore

  Redis 127.0.0.1:$REDIS_PORT, PostgreSQL 127.0.0.1:$DB_PORT (db $POSTGRES_DB), data in $data
  Press Ctrl-C to stop everything.

EOF
    # Return when either daemon exits (or a signal arrives).
    wait -n "$api_pid" "$syncd_pid" || true
    say "a daemon exited"
    stop_all
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    test) shift; cmd_test "$@" ;;
    *) echo "usage: $0 up|test" >&2; exit 64 ;;
esac
