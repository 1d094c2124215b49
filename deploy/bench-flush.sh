#!/usr/bin/env bash
# The write-behind benchmark: one syncd flush of 100,000 changed tasks (and
# their 1,000 users and 10 groups) from a private Redis into a private
# PostgreSQL, against the ceiling of COPYing the same rows through psql in
# the same run. Not a test: run it by hand.
#
#   ./deploy/bench-flush.sh              # 1,000 users x 100 tasks
#   BENCH_USERS=1000 BENCH_TASKS=1000 ./deploy/bench-flush.sh   # 1,000,000
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
USERS=${BENCH_USERS:-1000}
TASKS=${BENCH_TASKS:-100}

say() { printf '[bench-flush] %s\n' "$*" >&2; }
die() { printf '[bench-flush] %s\n' "$*" >&2; exit 1; }
command -v redis-server >/dev/null || die "redis-server is missing: ./deploy/dev.sh test installs it"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL is missing: ./deploy/dev.sh test installs it"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "building release binaries"
cargo build --release --locked -p taskmaster-tests --bin bench-seed --bin bench-flush >&2
BIN=$ROOT/target/release

WORK=$(mktemp -d /tmp/taskmaster-bench-flush.XXXXXX)
chmod 755 "$WORK"
REDIS_PORT=$(free_port)
PG_PORT=$(free_port)
cleanup() {
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$WORK" --logfile "$WORK/redis.log"
mkdir "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pg"
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtA -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE flush" -c "CREATE DATABASE copy"

say "seeding $USERS users x $TASKS tasks into Redis (all dirty)"
"$BIN/bench-seed" "redis://127.0.0.1:$REDIS_PORT" b: "$USERS" "$TASKS" >/dev/null

say "flushing"
MAXRSS=""
if [ -x /usr/bin/time ]; then
    FLUSH=$(/usr/bin/time -f '%M' -o "$WORK/rss" "$BIN/bench-flush" "redis://127.0.0.1:$REDIS_PORT" b: \
        "postgres://postgres@127.0.0.1:$PG_PORT/flush")
    MAXRSS=$(cat "$WORK/rss")
else
    FLUSH=$("$BIN/bench-flush" "redis://127.0.0.1:$REDIS_PORT" b: "postgres://postgres@127.0.0.1:$PG_PORT/flush")
fi

say "ceiling: COPY of the same rows through psql"
COLS_users="id, full_name, email, role, number, password_hash, work_times, created_at, updated_at"
COLS_groups="id, name, admin_id, created_at, updated_at"
COLS_user_groups="user_id, group_id"
COLS_tasks="id, title, status, priority, deadline, information, user_id, group_id, created_at, updated_at"
for t in users groups user_groups tasks; do
    cols_var="COLS_$t"
    "${PSQL[@]}" -d flush -c "\\copy (SELECT ${!cols_var} FROM $t) TO '$WORK/$t.csv' WITH (FORMAT csv)"
done
PGPASSWORD= pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres -s flush | "${PSQL[@]}" -d copy >/dev/null
START=$(date +%s.%N)
"${PSQL[@]}" -d copy \
    -c "BEGIN" \
    -c "\\copy users ($COLS_users) FROM '$WORK/users.csv' WITH (FORMAT csv)" \
    -c "\\copy groups ($COLS_groups) FROM '$WORK/groups.csv' WITH (FORMAT csv)" \
    -c "\\copy user_groups ($COLS_user_groups) FROM '$WORK/user_groups.csv' WITH (FORMAT csv)" \
    -c "\\copy tasks ($COLS_tasks) FROM '$WORK/tasks.csv' WITH (FORMAT csv)" \
    -c "COMMIT"
END=$(date +%s.%N)

python3 - "$FLUSH" "$START" "$END" "$MAXRSS" <<'PY'
import json, sys
flush = json.loads(sys.argv[1])
copy = float(sys.argv[3]) - float(sys.argv[2])
rss = sys.argv[4]
print(f"\nsyncd flush benchmark: {flush['rows']:,} rows ({flush['tasks']:,} tasks), loopback, 2 cores shared")
print(f"flush: {flush['seconds']:.2f} s, {flush['rows'] / flush['seconds']:,.0f} rows/s"
      + (f", peak memory {int(rss) / 1024:.0f} MiB" if rss else ""))
print(f"COPY through psql (ceiling): {copy:.2f} s")
ratio = flush['seconds'] / copy
print(f"{'PASS' if ratio <= 2 else 'MISS'}  flush time <= 2x COPY: {ratio:.2f}x")
PY
