#!/usr/bin/env bash
# The backup and restore benchmark: 1,000,000 tasks (1,000 users x 1,000)
# seeded into a private Redis and flushed into a private PostgreSQL, then
#   * a backup of PostgreSQL: rows/s and peak memory;
#   * a restore (Redis rebuilt from PostgreSQL) into an empty Redis, against
#     the ceiling: `redis-cli --pipe` loading the very same commands, in the
#     same run.
# Not a test: run it by hand. BENCH_TASKS=100 makes it 100,000 tasks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
USERS=${BENCH_USERS:-1000}
TASKS=${BENCH_TASKS:-1000}

BENCH_NAME=bench-restore
# shellcheck source=deploy/bench-servers.sh
. "$ROOT/deploy/bench-servers.sh"
timed() { # timed OUTFILE RSSFILE cmd... : runs cmd, stdout to OUTFILE, peak RSS (KiB) to RSSFILE
    local out=$1 rss=$2; shift 2
    if [ -x /usr/bin/time ]; then /usr/bin/time -f '%M' -o "$rss" "$@" >"$out"; else "$@" >"$out"; echo 0 >"$rss"; fi
}


say "building release binaries"
cargo build --release --locked -p taskmaster-tests --bin bench-seed --bin bench-flush --bin bench-restore >&2
BIN=$ROOT/target/release

start_servers
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtA -d postgres -c "CREATE DATABASE bench" >/dev/null
REDIS="redis://127.0.0.1:$REDIS_PORT"
DB="postgres://postgres@127.0.0.1:$PG_PORT/bench"

say "seeding $USERS users x $TASKS tasks into Redis and flushing them into PostgreSQL"
"$BIN/bench-seed" "$REDIS" r: "$USERS" "$TASKS" >/dev/null
"$BIN/bench-flush" "$REDIS" r: "$DB" >/dev/null

say "backup"
timed "$WORK/backup.json" "$WORK/backup.rss" "$BIN/bench-restore" backup "$REDIS" r: "$DB" "$WORK/backups"

say "writing the rebuild's commands for the ceiling"
"$BIN/bench-restore" emit "$REDIS" r: "$DB" "$WORK/commands.resp" >"$WORK/emit.json"

say "ceiling: redis-cli --pipe of the same commands into an empty Redis"
redis-cli -p "$REDIS_PORT" flushall >/dev/null
START=$(date +%s.%N)
redis-cli -p "$REDIS_PORT" --pipe <"$WORK/commands.resp" >"$WORK/pipe.out"
END=$(date +%s.%N)
PIPE_KEYS=$(redis-cli -p "$REDIS_PORT" dbsize)

say "restore: syncd's rebuild into an empty Redis"
redis-cli -p "$REDIS_PORT" flushall >/dev/null
timed "$WORK/rebuild.json" "$WORK/rebuild.rss" "$BIN/bench-restore" rebuild "$REDIS" r: "$DB"
# The rebuild also raises the three id counters, which the ceiling's
# commands do not hold: compare the rest.
REBUILD_KEYS=$(( $(redis-cli -p "$REDIS_PORT" dbsize) - $(redis-cli -p "$REDIS_PORT" --scan --pattern 'r:seq:*' | wc -l) ))

python3 - "$WORK" "$START" "$END" "$PIPE_KEYS" "$REBUILD_KEYS" <<'PY'
import json, sys, pathlib
work = pathlib.Path(sys.argv[1])
pipe = float(sys.argv[3]) - float(sys.argv[2])
pipe_keys, rebuild_keys = int(sys.argv[4]), int(sys.argv[5])
backup = json.loads((work / "backup.json").read_text())
rebuild = json.loads((work / "rebuild.json").read_text())
rss = lambda name: int((work / f"{name}.rss").read_text().strip() or 0) / 1024
print(f"\nbackup and restore benchmark: {rebuild['tasks']:,} tasks, loopback, 2 cores shared")
print(f"backup:  {backup['rows']:,} rows in {backup['seconds']:.2f} s, {backup['rows'] / backup['seconds']:,.0f} rows/s,"
      f" file {backup['bytes'] / 2**20:.0f} MiB, peak memory {rss('backup'):.0f} MiB")
print(f"restore: {rebuild['rows']:,} rows in {rebuild['seconds']:.2f} s, {rebuild['rows'] / rebuild['seconds']:,.0f} rows/s,"
      f" peak memory {rss('rebuild'):.0f} MiB, {rebuild_keys:,} keys besides the counters")
print(f"redis-cli --pipe of the same commands (ceiling): {pipe:.2f} s, {pipe_keys:,} keys")
ratio = rebuild['seconds'] / pipe
print(f"{'PASS' if ratio <= 2 and pipe_keys == rebuild_keys else 'MISS'}  restore time <= 2x redis-cli --pipe: {ratio:.2f}x")
PY
