#!/usr/bin/env bash
# Checks GET /docs in a real browser, as a user would see it:
#
#   ./deploy/check-docs.sh        # CI runs it after the test suite
#
# Starts the whole system with `dev.sh up` (on free ports, in a data
# directory of its own, with the debug build the test suite made unless
# TASKMASTER_PROFILE says otherwise), opens /docs in headless Chromium
# (Debian's `chromium`, installed when missing), and checks with
# deploy/check_docs.py that every operation of /openapi.json is listed and
# that a "Try it out" call succeeds. The screenshot and the listed
# operations land in CHECK_DOCS_OUT (default target/check-docs). Stops
# everything it started, whatever happens, and exits non-zero on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CHECK_DOCS_OUT:-$ROOT/target/check-docs}
say() { printf '[check-docs] %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { say "chromium is missing: apt-get install chromium (as root)"; exit 1; }
    say "installing chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SERVER_PORT=$(free_port) REDIS_PORT=$(free_port) DB_PORT=$(free_port)
DATA=$(mktemp -d /tmp/check-docs-XXXXXX)
chmod 755 "$DATA"
LOG="$DATA/dev.log"

SERVER_PORT=$SERVER_PORT REDIS_PORT=$REDIS_PORT DB_PORT=$DB_PORT TASKMASTER_DATA=$DATA \
    TASKMASTER_PROFILE=${TASKMASTER_PROFILE:-debug} "$ROOT/deploy/dev.sh" up >"$LOG" 2>&1 &
DEV=$!
stop() {
    kill -TERM "$DEV" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$DEV" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DEV" 2>/dev/null || true
    rm -rf "$DATA"
}
trap stop EXIT

BASE=http://127.0.0.1:$SERVER_PORT
say "starting the system on $BASE"
for _ in $(seq 1 600); do
    curl -sf -m 2 "$BASE/health" >/dev/null 2>&1 && break
    kill -0 "$DEV" 2>/dev/null || { tail -20 "$LOG" >&2; say "the system did not start"; exit 1; }
    sleep 0.5
done
curl -sf -m 2 "$BASE/health" >/dev/null || { tail -20 "$LOG" >&2; say "no /health within 5 minutes"; exit 1; }
python3 "$ROOT/deploy/check_docs.py" "$BASE" "$OUT"
