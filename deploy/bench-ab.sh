#!/usr/bin/env bash
# A/B of api builds or settings on one GET, with the CPU each request
# costs: alternating wrk runs against several api processes on one private
# Redis, each run also reading the api's and Redis's CPU time from /proc.
# Throughput on a shared 2-core machine moves by several percent from run
# to run; the CPU per request (api µs + Redis µs) moves far less, so it
# tells small costs apart (a header, a Redis key) that req/s cannot.
#
#   cargo build --release -p taskmaster-api -p taskmaster-tests --bin bench-seed
#   ./deploy/bench-ab.sh ROUNDS SECONDS NAME=BINARY[:VAR=VALUE,...] ...
#   # e.g. rate limiting on against off, and a bearer token against Basic:
#   AB_BEARER=1 ./deploy/bench-ab.sh 4 6 \
#       off=target/release/taskmaster-api:RATE_LIMIT_PER_MINUTE=0 \
#       on=target/release/taskmaster-api:RATE_LIMIT_PER_MINUTE=10000000,RATE_LIMIT_BURST=10000000 \
#       bearer=target/release/taskmaster-api:RATE_LIMIT_PER_MINUTE=0
#
# Every run GETs one task of a seeded user (100 users x 100 tasks) with
# Basic auth, or, for a NAME starting with `bearer` (with AB_BEARER=1), with
# the access token of a session opened on the first api. AB_WRITE=create
# makes every run create tasks (the user's own, Basic auth) instead, and
# AB_WRITE=update update that task's priority in turn. AB_PERF=NAME
# records that api's runs with `perf record -g` into /tmp/perf-NAME.data.
# Prints per round, in the order run (each round starts one process later):
# req/s (api µs + Redis µs of CPU per request).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,23p' "$0"; exit 64; }
ROUNDS=$1 SECS=$2; shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
WORK=$(mktemp -d)
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(fp)
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --unixsocket "$WORK/redis.sock" --unixsocketperm 700 --dir "$WORK" --logfile "$WORK/redis.log" --maxclients 10000
for _ in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
RPID=$(redis-cli -p "$RP" info server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')
run_id=$(redis-cli -p "$RP" info server | awk -F: '/^run_id:/ {print $2}' | tr -d '\r')
redis-cli -p "$RP" set main:meta:ids_run "$run_id" >/dev/null
SAMPLE=$("$BIN/bench-seed" "redis://127.0.0.1:$RP" main: 100 100)
f() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$SAMPLE" "$1"; }
UID_=$(f user_id) TID=$(f task_id) PW=$(f password) GID=$(f group_id)
BASIC=$(printf '%s:%s' "$UID_" "$PW" | base64 -w0)
TARGET=/users/$UID_/tasks/$TID SCRIPT=()
case "${AB_WRITE:-}" in
    "") ;;
    create)
        TARGET=/users/$UID_/tasks SCRIPT=(-s "$WORK/write.lua")
        cat >"$WORK/write.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"title":"bench task","group_id":$GID,"priority":2,"deadline":"2026-12-31","information":"load"}'
wrk.headers["Content-Type"] = "application/json"
EOF
        ;;
    update) SCRIPT=(-s "$ROOT/deploy/lib/wrk-update.lua") ;;
    *) echo "AB_WRITE must be create or update" >&2; exit 64 ;;
esac
declare -A PORT PID
NAMES=()
for spec in "$@"; do
    name=${spec%%=*} rest=${spec#*=}
    bin=${rest%%:*} vars=""
    [[ $rest == *:* ]] && vars=${rest#*:}
    p=$(fp)
    PORT[$name]=$p
    NAMES+=("$name")
    # shellcheck disable=SC2086 # VAR=VALUE words, split on purpose
    env SERVER_HOST=127.0.0.1 SERVER_PORT="$p" REDIS_URL="unix://$WORK/redis.sock" REDIS_KEY_PREFIX=main: \
        OWNER_PASSWORD=ab-owner RUST_LOG=warn ACCESS_TOKEN_TTL=6h ${vars//,/ } "$bin" 2>>"$WORK/api.log" &
    PID[$name]=$!
    PIDS+=($!)
done
for n in "${NAMES[@]}"; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$n]}") 2>/dev/null && break; sleep 0.1; done
    # Warm: each shard pays argon2 once.
    wrk -t2 -c64 -d2s -H "Authorization: Basic $BASIC" "http://127.0.0.1:${PORT[$n]}/users/$UID_/tasks/$TID" >/dev/null
done
BEARER=
if [ -n "${AB_BEARER:-}" ]; then
    BEARER=$(curl -s -H 'content-type: application/json' -d "{\"login\":$UID_,\"password\":\"$PW\"}" \
        "http://127.0.0.1:${PORT[${NAMES[0]}]}/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')
fi
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    # Each round starts with the next process, so that none always runs
    # in the same place (two runs with a fixed order each favoured
    # whichever process came second, by about 1 µs of Redis a request).
    order=()
    for i in "${!NAMES[@]}"; do order+=("${NAMES[(i + r - 1) % ${#NAMES[@]}]}"); done
    for n in "${order[@]}"; do
        header="Authorization: Basic $BASIC"
        [[ $n == bearer* && -n $BEARER ]] && header="Authorization: Bearer $BEARER"
        perfpid=
        if [ "${AB_PERF:-}" = "$n" ]; then
            perf record -F 2000 -g -o "/tmp/perf-$n.data" -p "${PID[$n]}" -- sleep $((SECS - 1)) >/dev/null 2>&1 &
            perfpid=$!
        fi
        a0=$(cpu "${PID[$n]}") r0=$(cpu "$RPID")
        out=$(wrk -t2 -c64 -d"${SECS}s" -H "$header" ${SCRIPT[@]+"${SCRIPT[@]}"} "http://127.0.0.1:${PORT[$n]}$TARGET")
        a1=$(cpu "${PID[$n]}") r1=$(cpu "$RPID")
        if [ -n "$perfpid" ]; then wait "$perfpid"; fi
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        # /proc counts clock ticks of 10 ms.
        line+=" $n=$rps($(python3 -c "print(f'{($a1-$a0)*1e4/$reqs:.2f}+{($r1-$r0)*1e4/$reqs:.2f}us')"))"
    done
    echo "$line"
done
