#!/usr/bin/env bash
# The live feed's benchmark: 1,000 WebSocket clients, one per account (10
# group admins, their groups' users) and one as the owner, against a release
# api on a private Redis (loopback only); each create then reaches three
# clients (its user, its group's admin, the owner). Never a timed test: run
# it by hand.
#
#   ./deploy/bench-feed.sh
#
# Reports (from tests/src/bin/bench-feed.rs):
#   * delivery latency from a create's acknowledgement to each client's
#     receipt, p50 and p99, at a steady write rate (target p99 < 50 ms at
#     1,000 clients and 1,000 writes/s);
#   * create throughput with the clients over without, in alternating
#     rounds (without, with, with, without; target >= 0.90);
#   * the api's resident memory per connection.
#
# Knobs: FEED_CLIENTS (1000), FEED_RATE (writes per second, 1000),
# FEED_SECONDS (10), BENCH_API_THREADS (the api's API_WORKER_THREADS, 0:
# its default).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLIENTS=${FEED_CLIENTS:-1000}
RATE=${FEED_RATE:-1000}
SECONDS_=${FEED_SECONDS:-10}
API_THREADS=${BENCH_API_THREADS:-0}

say() { printf '[bench-feed] %s\n' "$*" >&2; }
die() { printf '[bench-feed] %s\n' "$*" >&2; exit 1; }
command -v redis-server >/dev/null || die "redis-server is missing: apt-get install redis-server"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "building release binaries"
cargo build --release --locked -p taskmaster-api -p taskmaster-tests --bin taskmaster-api --bin bench-feed >&2
BIN=$ROOT/target/release

WORK=$(mktemp -d)
API_PID=
cleanup() {
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true
    [ -n "${REDIS_PORT:-}" ] && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# 1,000 clients and the writers' connections need descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --unixsocket "$WORK/redis.sock" --unixsocketperm 700 --dir "$WORK" --logfile "$WORK/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
# As syncd does once it has checked this Redis: creates pay that check.
RUN_ID=$(redis-cli -p "$REDIS_PORT" info server | awk -F: '/^run_id:/ {print $2}' | tr -d '\r')
redis-cli -p "$REDIS_PORT" set "feed:meta:ids_run" "$RUN_ID" >/dev/null

API_PORT=$(free_port)
OWNER=bench-owner-secret
SERVER_HOST=127.0.0.1 SERVER_PORT=$API_PORT REDIS_URL="unix://$WORK/redis.sock" \
    REDIS_KEY_PREFIX=feed: OWNER_PASSWORD=$OWNER RUST_LOG=warn API_WORKER_THREADS=$API_THREADS \
    RATE_LIMIT_PER_MINUTE=0 RATE_LIMIT_AUTH_PER_MINUTE=1000000 RATE_LIMIT_AUTH_BURST=100000 \
    ACCESS_TOKEN_TTL=6h FEED_MAX_CONNECTIONS=$((CLIENTS + 100)) \
    "$BIN/taskmaster-api" 2>>"$WORK/api.log" &
API_PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break
    sleep 0.1
done

say "$CLIENTS clients, $RATE writes/s for ${SECONDS_}s"
REPORT=$("$BIN/bench-feed" "http://127.0.0.1:$API_PORT" "$OWNER" "$API_PID" \
    "unix://$WORK/redis.sock" feed: "$CLIENTS" "$RATE" "$SECONDS_")
python3 - "$REPORT" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
lat, thr, mem, st = r["latency_ms"], r["throughput"], r["memory"], r["steady"]
print(f"\ntaskmaster live feed benchmark: {r['clients']} WebSocket clients, loopback, 2 cores shared with the load generator")
print(f"steady load: {st['achieved_per_s']:.0f} creates/s (target {st['target_per_s']}) for {st['seconds']} s, {st['failed']} failed; "
      f"{r['deliveries']:,} deliveries of {r['expected_deliveries']:,}; the owner's client got every create: {r['owner_clients_complete']}")
print(f"delivery latency, acknowledgement to receipt: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.1f} ms")
print(f"create throughput without clients {' / '.join(f'{v:.0f}' for v in thr['without_clients'])}, "
      f"with {' / '.join(f'{v:.0f}' for v in thr['with_clients'])} creates/s: with / without {thr['with_over_without']:.3f}")
cpu, gen = thr["api_cpu_us_per_create"], thr["generator_cpu_us_per_create"]
print(f"CPU per create: the api {cpu['without']:.1f} µs without clients, {cpu['with']:.1f} µs with them (three deliveries each); "
      f"the load generator {gen['without']:.1f} / {gen['with']:.1f} µs")
print(f"api memory: {mem['rss_before_kib'] / 1024:.1f} MiB before the clients, {mem['rss_with_clients_kib'] / 1024:.1f} MiB with them: "
      f"{mem['per_connection_kib']:.1f} KiB per connection\n")
checks = [
    ("delivery p99 < 50 ms", lat["p99"], lat["p99"] < 50),
    ("throughput with clients >= 0.90 x without", thr["with_over_without"], thr["with_over_without"] >= 0.90),
    ("every create reached its three clients", r["deliveries"] / max(r["expected_deliveries"], 1), r["deliveries"] == r["expected_deliveries"]),
]
for label, value, ok in checks:
    print(f"{'PASS' if ok else 'MISS'}  {label}: {value:.2f}")
PY
