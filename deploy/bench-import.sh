#!/usr/bin/env bash
# The import and export benchmark, on a private Redis with the release api:
#   * an import of BENCH_IMPORT_ROWS (100,000) rows, from the upload to its
#     job's end, in rows/s, against the ceiling: `redis-cli --pipe` loading
#     the same keys the import wrote (each row, its two set entries, its
#     dirty mark, its change log entry, its label index entries and its
#     list version), in the same run (target: the import takes at most
#     twice as long);
#   * an export of BENCH_EXPORT_ROWS (1,000,000) tasks as CSV and as JSON,
#     in rows/s, with the api process's peak memory before and after.
# Not a test: run it by hand (`./deploy/bench-import.sh`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
IMPORT_ROWS=${BENCH_IMPORT_ROWS:-100000}
EXPORT_ROWS=${BENCH_EXPORT_ROWS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}

BENCH_NAME=bench-import
# shellcheck source=deploy/bench-servers.sh
. "$ROOT/deploy/bench-servers.sh"
command -v curl >/dev/null || die "curl is missing: apt-get install curl"

say "building release binaries"
cargo build --release --locked -p taskmaster-api -p taskmaster-tests --bin taskmaster-api --bin bench-seed >&2
BIN=$ROOT/target/release

start_servers
REDIS="redis://127.0.0.1:$REDIS_PORT"
OWNER=bench-owner-secret
API_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"

say "seeding: one user with $EXPORT_ROWS tasks (the export's), one user per import round"
BENCH_SEED_BULK=$EXPORT_ROWS "$BIN/bench-seed" "$REDIS" b: $((ROUNDS + 1)) 0 >"$WORK/seed.json"

SERVER_HOST=127.0.0.1 SERVER_PORT=$API_PORT REDIS_URL="$REDIS/0" REDIS_KEY_PREFIX=b: \
    OWNER_PASSWORD=$OWNER RUST_LOG=warn MAX_TASKS_PER_USER=0 MAX_TASKS_PER_GROUP=0 \
    "$BIN/taskmaster-api" 2>>"$WORK/api.log" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null || true; stop_servers' EXIT
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$API/health" && break
    sleep 0.1
done
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$API_PID/status"; }

write_csv() { # write_csv GROUP: the import's file, rows in GROUP
    python3 - "$WORK/import.csv" "$IMPORT_ROWS" "$1" <<'PY'
import sys
out, n, group = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w", newline="") as f:
    f.write("title,priority,deadline,information,group_id,status,labels\r\n")
    for i in range(n):
        f.write(f"Imported task {i},{1 + i % 3},2027-{1 + i % 12:02}-{1 + i % 28:02},"
                f"\"Row {i}, with a comma\",{group},{'true' if i % 5 == 0 else 'false'},\"q{i % 4}\"\r\n")
PY
}

import_once() { # import_once USER_ID -> seconds on stdout
    local start end id status
    start=$(date +%s.%N)
    id=$(curl -sf -H "X-Owner-Password: $OWNER" -H 'Content-Type: text/csv' \
        --data-binary @"$WORK/import.csv" "$API/users/$1/tasks/import" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
    while :; do
        status=$(curl -sf -H "X-Owner-Password: $OWNER" "$API/jobs/$id" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["status"])')
        case $status in done) break ;; failed | cancelled) die "job $id $status" ;; esac
        sleep 0.02
    done
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}

# The ceiling's commands: what the import of user USER wrote, under
# another prefix (the same keys' shapes, none of them there yet): each
# row, its user's and group's set entries, its dirty mark, its change log
# entry, its labels in the group's label index, its user's list version.
ceiling_commands() { # ceiling_commands USER ROUND
    python3 - "$REDIS_PORT" "$1" "$2" "$WORK/ceiling.resp" <<'PY'
import json, socket, sys
port, user, rnd, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def cmd(*args):
    s.sendall(resp(args))
    return read()
def resp(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
def read():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t in (b"+", b"-", b":"): return rest
    if t == b"$":
        n = int(rest)
        if n < 0: return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b"*":
        return [read() for _ in range(int(rest))]
ids = cmd("SMEMBERS", f"b:user:{user}:tasks")
P = f"c{rnd}:"
with open(out, "wb") as o:
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        rows = cmd("MGET", *[b"b:task:" + t for t in chunk])
        for t, row in zip(chunk, rows):
            group = row.split(b'"group_id":')[1].split(b",")[0]
            for label in json.loads(row)["labels"]:
                o.write(resp(["SADD", P.encode() + b"group:" + group + b":label:" + label.encode(), t]))
                o.write(resp(["HINCRBY", P.encode() + b"group:" + group + b":labels", label, 1]))
            o.write(resp(["SET", P.encode() + b"task:" + t, row]))
            o.write(resp(["SADD", f"{P}user:{user}:tasks", t]))
            o.write(resp(["SADD", P.encode() + b"group:" + group + b":tasks", t]))
            o.write(resp(["SADD", f"{P}dirty:tasks", t]))
            o.write(resp(["XADD", f"{P}changes", "*", "type", "task", "op", "created", "id", t,
                          "actor", "owner", "auth", "owner_header", "token", "-", "request", "-",
                          "at", "2026-12-05T10:00:00.000000Z", "user", user, "group", group, "row", row]))
            o.write(resp(["HINCRBY", f"{P}user:{user}", "tv", 1]))
PY
}

pipe_once() {
    local start end
    start=$(date +%s.%N)
    redis-cli -p "$REDIS_PORT" --pipe <"$WORK/ceiling.resp" >"$WORK/pipe.out"
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}

USERS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join("%s:%s" % (w["id"], w["group_id"]) for w in d["writers"]))' "$WORK/seed.json")
read -r -a IMPORT_USERS <<<"$USERS"
[ "${#IMPORT_USERS[@]}" -ge "$ROUNDS" ] || die "bench-seed made too few users"
: >"$WORK/rounds"
for round in $(seq 1 "$ROUNDS"); do
    user=${IMPORT_USERS[$((round - 1))]%%:*}
    write_csv "${IMPORT_USERS[$((round - 1))]##*:}"
    say "round $round: import of $IMPORT_ROWS rows for user $user, then the ceiling"
    import_secs=$(import_once "$user")
    ceiling_commands "$user" "$round"
    pipe_secs=$(pipe_once)
    echo "$import_secs $pipe_secs" >>"$WORK/rounds"
done

say "export of $EXPORT_ROWS tasks (CSV, then JSON)"
EXPORT_USER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user_id"])' "$WORK/seed.json")
curl -sf -o /dev/null -H "X-Owner-Password: $OWNER" "$API/users/$EXPORT_USER/tasks/export?deadline_before=2000-01-01" || true
HWM_BEFORE=$(hwm)
export_secs() { # export_secs FORMAT
    local start end
    start=$(date +%s.%N)
    curl -sf -H "X-Owner-Password: $OWNER" "$API/users/$EXPORT_USER/tasks/export?format=$1" -o "$WORK/export.$1"
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}
CSV_SECS=$(export_secs csv)
JSON_SECS=$(export_secs json)
HWM_AFTER=$(hwm)
CSV_LINES=$(($(wc -l <"$WORK/export.csv") - 1))
CSV_BYTES=$(stat -c %s "$WORK/export.csv")

python3 - "$WORK" "$IMPORT_ROWS" "$EXPORT_ROWS" "$CSV_SECS" "$JSON_SECS" "$HWM_BEFORE" "$HWM_AFTER" "$CSV_LINES" "$CSV_BYTES" <<'PY'
import sys, pathlib, statistics
work = pathlib.Path(sys.argv[1])
rows, export_rows = int(sys.argv[2]), int(sys.argv[3])
csv_s, json_s, before, after, lines, size = map(float, sys.argv[4:10])
rounds = [tuple(map(float, l.split())) for l in (work / "rounds").read_text().split("\n") if l.strip()]
print("import (upload to job end) vs redis-cli --pipe of the same keys:")
for i, (imp, pipe) in enumerate(rounds, 1):
    print(f"  round {i}: import {imp:.2f} s ({rows / imp:,.0f} rows/s), pipe {pipe:.2f} s "
          f"({rows / pipe:,.0f} rows/s), import / pipe {imp / pipe:.2f}")
ratio = statistics.median(imp / pipe for imp, pipe in rounds)
print(f"  median import / pipe: {ratio:.2f} (target <= 2)")
assert lines == export_rows, f"the CSV export has {lines:.0f} rows, not {export_rows}"
print(f"export of {export_rows:,} tasks: CSV {csv_s:.2f} s ({export_rows / csv_s:,.0f} rows/s, "
      f"{size / 1e6:.0f} MB), JSON {json_s:.2f} s ({export_rows / json_s:,.0f} rows/s)")
print(f"  api peak memory (VmHWM): {before / 1024:.1f} MB before, {after / 1024:.1f} MB after")
PY
