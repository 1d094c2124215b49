# shellcheck shell=bash
# Sourced by deploy/check-docs.sh, check-status-page.sh, check-monitoring.sh
# and fuzz.sh: starts the whole
# system with `dev.sh up` on free ports, in a data directory of its own,
# with the debug build the test suite made (TASKMASTER_PROFILE overrides),
# and stops it and removes its data on exit.
#
#   start_system            # sets BASE (http://127.0.0.1:PORT), LOG, OWNER,
#                           # REDIS_PORT (its Redis, default user open) and
#                           # SYNCD_METRICS (syncd's metrics, host:port)
#
# The caller sets ROOT (the checkout) and a say() function.

# Headless Chromium for the page checks (Debian's package, installed when
# missing: as root only).
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || { say "chromium is missing: apt-get install chromium (as root)"; exit 1; }
    say "installing chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_system() {
    [ -n "${SYSTEM_PID:-}" ] || return 0
    kill -TERM "$SYSTEM_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SYSTEM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SYSTEM_PID" 2>/dev/null || true
    rm -rf "$SYSTEM_DATA"
    SYSTEM_PID=''
}

OWNER=${OWNER_PASSWORD:-system-check-owner-secret}

start_system() {
    local server_port redis_port db_port
    server_port=$(free_port) redis_port=$(free_port) db_port=$(free_port)
    SYNCD_METRICS=127.0.0.1:$(free_port)
    REDIS_PORT=$redis_port
    SYSTEM_DATA=$(mktemp -d /tmp/taskmaster-system-XXXXXX)
    chmod 755 "$SYSTEM_DATA"
    LOG="$SYSTEM_DATA/dev.log"
    SERVER_PORT=$server_port REDIS_PORT=$redis_port DB_PORT=$db_port TASKMASTER_DATA=$SYSTEM_DATA \
        SYNCD_METRICS_ADDR=$SYNCD_METRICS \
        OWNER_PASSWORD="$OWNER" \
        TASKMASTER_PROFILE=${TASKMASTER_PROFILE:-debug} "$ROOT/deploy/dev.sh" up >"$LOG" 2>&1 &
    SYSTEM_PID=$!
    trap stop_system EXIT
    BASE=http://127.0.0.1:$server_port
    say "starting the system on $BASE"
    for _ in $(seq 1 600); do
        curl -sf -m 2 "$BASE/health" >/dev/null 2>&1 && return 0
        kill -0 "$SYSTEM_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -20 "$LOG" >&2
    say "the system did not start"
    exit 1
}
