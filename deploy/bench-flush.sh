#!/usr/bin/env bash
# The write-behind benchmark: one syncd flush of 100,000 changed tasks (and
# their 1,000 users and 10 groups) from a private Redis into a private
# PostgreSQL, against the ceiling of COPYing the same rows through psql in
# the same run; then the audit log's appending of the 100,000-odd change
# log entries the seeding wrote, against COPYing the same audit rows. Not a
# test: run it by hand.
#
#   ./deploy/bench-flush.sh              # 1,000 users x 100 tasks
#   BENCH_USERS=1000 BENCH_TASKS=1000 ./deploy/bench-flush.sh   # 1,000,000
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
USERS=${BENCH_USERS:-1000}
TASKS=${BENCH_TASKS:-100}

BENCH_NAME=bench-flush
# shellcheck source=deploy/bench-servers.sh
. "$ROOT/deploy/bench-servers.sh"

say "building release binaries"
cargo build --release --locked -p taskmaster-tests --bin bench-seed --bin bench-flush >&2
BIN=$ROOT/target/release

start_servers
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

say "ceiling: COPY of the same audit rows through psql"
COLS_audit="stream_ms, stream_seq, at, actor, auth, token_id, request_id, action, entity, entity_id, changes"
"${PSQL[@]}" -d flush -c "\\copy (SELECT $COLS_audit FROM audit_log) TO '$WORK/audit.csv' WITH (FORMAT csv)"
AUDIT_START=$(date +%s.%N)
"${PSQL[@]}" -d copy -c "\\copy audit_log ($COLS_audit) FROM '$WORK/audit.csv' WITH (FORMAT csv)"
AUDIT_END=$(date +%s.%N)

python3 - "$FLUSH" "$START" "$END" "$MAXRSS" "$AUDIT_START" "$AUDIT_END" <<'PY'
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
audit_copy = float(sys.argv[6]) - float(sys.argv[5])
print(f"\naudit log: {flush['audit_rows']:,} change log entries appended in {flush['audit_seconds']:.2f} s, "
      f"{flush['audit_rows'] / flush['audit_seconds']:,.0f} rows/s")
print(f"COPY of the same audit rows through psql (ceiling): {audit_copy:.2f} s, "
      f"{flush['audit_rows'] / audit_copy:,.0f} rows/s")
ratio = flush['audit_seconds'] / audit_copy
print(f"{'PASS' if ratio <= 2 else 'MISS'}  audit time <= 2x COPY: {ratio:.2f}x")
PY
