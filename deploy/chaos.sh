#!/usr/bin/env bash
# The fault run (README, "Reliability"): the whole system as real processes
# on loopback (Redis with its append-only file, PostgreSQL behind a proxy,
# the api, two syncds), clients writing into it and recording every answer,
# a seeded nemesis killing (-9), pausing (SIGSTOP) and cutting off each of
# them and forcing flushes, backups and restores, then a checker of every
# acknowledged write against Redis and PostgreSQL (tests/src/chaos/).
#
#   ./deploy/chaos.sh               # short: every fault kind twice, in both
#                                   # Redis durability modes (CI, ~5 min)
#   ./deploy/chaos.sh long          # >= 1,000 faults and >= 1,000,000
#                                   # acknowledged writes per mode (release)
#   CHAOS_SEED=3 CHAOS_FSYNC=everysec CHAOS_FAULTS=kill_redis,flush \
#     ./deploy/chaos.sh             # replay a finding's seed and faults
#
# Under `appendfsync always` nothing acknowledged may be lost; under
# `everysec` a Redis "kill" is its host's crash (the unsynced last second of
# the append-only file is cut off) and the writes it loses are counted,
# each of them within 2 s before a crash. Each run's folder (target/chaos/)
# holds report.json, faults.jsonl, history.jsonl.gz and the processes'
# logs. Exits non-zero when a run finds anything. Needs Redis and
# PostgreSQL installed (./deploy/dev.sh test installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODE=${1:-short}
case "$MODE" in
    short) PROFILE=${TASKMASTER_PROFILE:-debug} ;;
    long) PROFILE=${TASKMASTER_PROFILE:-release} ;;
    *) echo "usage: $0 [short|long]" >&2; exit 64 ;;
esac
SEED=${CHAOS_SEED:-$(date +%s)}
MODES=${CHAOS_FSYNC:-always everysec}

say() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }

command -v redis-server >/dev/null || { say "redis-server is missing: run ./deploy/dev.sh test once (it installs it)"; exit 1; }

if [ "$PROFILE" = release ]; then
    say "building release binaries"
    cargo build --release --locked -p taskmaster-api -p taskmaster-syncd -p taskmaster-tests --bins >&2
else
    say "building debug binaries"
    cargo build --locked --workspace --bins >&2
fi
BIN=$ROOT/target/$PROFILE

failed=0
for fsync in $MODES; do
    out=$ROOT/target/chaos/$MODE-$SEED-$fsync
    rm -rf "$out"
    say "fault run: $MODE, seed $SEED, appendfsync $fsync -> $out"
    if ! CHAOS_MODE=$MODE CHAOS_SEED=$SEED CHAOS_FSYNC=$fsync CHAOS_OUT=$out "$BIN/chaos"; then
        failed=1
        say "FAILED: $out/report.json says what; replay with CHAOS_SEED=$SEED CHAOS_FSYNC=$fsync"
    fi
done
exit "$failed"
