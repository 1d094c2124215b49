#!/usr/bin/env bash
# The webhooks' benchmark: a release api and syncd on a private Redis and
# PostgreSQL (loopback only), hooks pointing at a receiver on loopback
# (tests/src/bin/bench-webhooks.rs). Never a timed test: run it by hand.
#
#   ./deploy/bench-webhooks.sh
#
# Reports: delivery latency from a create's acknowledgement to the
# receiver's receipt (p50, p99) under a steady write load, and deliveries
# per second when a flood of creates has to be delivered.
#
# Knobs: HOOKS_COUNT (hooks, each receiving every create; 4),
# HOOKS_RATE (creates per second in the steady phase; 200),
# HOOKS_SECONDS (10), HOOKS_FLOOD (creates in the flood phase; 5000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HOOKS=${HOOKS_COUNT:-4}
RATE=${HOOKS_RATE:-200}
SECONDS_=${HOOKS_SECONDS:-10}
FLOOD=${HOOKS_FLOOD:-5000}

BENCH_NAME=bench-webhooks
# shellcheck source=deploy/bench-servers.sh
. "$ROOT/deploy/bench-servers.sh"

say "building release binaries"
cargo build --release --locked -p taskmaster-api -p taskmaster-syncd -p taskmaster-tests \
    --bin taskmaster-api --bin taskmaster-syncd --bin bench-webhooks >&2
BIN=$ROOT/target/release

start_servers
API_PID= SYNCD_PID=
stop_all() {
    [ -n "$SYNCD_PID" ] && kill "$SYNCD_PID" 2>/dev/null || true
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    stop_servers
}
trap stop_all EXIT
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtA -d postgres -c "CREATE DATABASE hooks" >/dev/null

API_PORT=$(free_port)
OWNER=bench-owner-secret
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_KEY_PREFIX=hooks: RUST_LOG=warn \
    WEBHOOK_ALLOW_HOSTS=127.0.0.1 CONTROL_SECRET=bench-control-secret
SERVER_HOST=127.0.0.1 SERVER_PORT=$API_PORT OWNER_PASSWORD=$OWNER RATE_LIMIT_PER_MINUTE=0 \
    "$BIN/taskmaster-api" 2>>"$WORK/api.log" &
API_PID=$!
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/hooks" SYNC_INTERVAL=1h \
    "$BIN/taskmaster-syncd" 2>>"$WORK/syncd.log" &
SYNCD_PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break
    sleep 0.1
done
# syncd marks this Redis checked once it has its schema: creates wait for it.
for _ in $(seq 1 100); do
    [ -n "$(redis-cli -p "$REDIS_PORT" get hooks:meta:ids_run)" ] && break
    sleep 0.1
done

say "$HOOKS hooks; $RATE creates/s for ${SECONDS_}s, then a flood of $FLOOD creates"
REPORT=$("$BIN/bench-webhooks" "http://127.0.0.1:$API_PORT" "$OWNER" "$HOOKS" "$RATE" "$SECONDS_" "$FLOOD")
python3 - "$REPORT" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
s, f = r["steady"], r["flood"]
print(f"\ntaskmaster webhooks benchmark: {r['hooks']} hooks on a loopback receiver, release api and syncd, 2 cores shared")
print(f"steady: {s['rate']} creates/s for {s['seconds']} s: {s['delivered']:,} of {s['expected']:,} deliveries; "
      f"latency from the create's acknowledgement: p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms")
print(f"flood: {f['creates']:,} creates in {f['created_in_s']:.2f} s; {f['delivered']:,} of {f['expected']:,} deliveries "
      f"in {f['drained_in_s']:.2f} s: {f['deliveries_per_s']:,.0f} deliveries/s")
PY
