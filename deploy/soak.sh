#!/usr/bin/env bash
# The soak (README, "Reliability"): the whole system as real processes on
# loopback (Redis with its append-only file under everysec, PostgreSQL, the
# api, two syncds), driven flat out for 25 s to measure its maximum, then
# held at 70% of it for an hour with a realistic mix (reads, lists,
# statistics, writes, a few live-feed clients), sampled every 10 s. The
# samples go to samples.csv and soak.png (plotted with matplotlib, from
# PyPI into a virtualenv under target/), the verdict to summary.json:
# no errors, memory drift under 5% after the warm-up, no growing backlog,
# a flat p99. Loopback only; it stops by itself.
#
#   ./deploy/soak.sh                         # one hour (release build)
#   SOAK_SECONDS=300 SOAK_WARMUP=60 ./deploy/soak.sh    # a short look
#
# Knobs: SOAK_SECONDS (3600), SOAK_WARMUP (300), SOAK_LOAD (0.7),
# SOAK_CLIENTS (32), SOAK_FEEDS (3), SOAK_SAMPLE (10), SOAK_OUT
# (target/soak/<date>). Exits non-zero when a target is missed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }
command -v redis-server >/dev/null || { say "redis-server is missing: run ./deploy/dev.sh test once (it installs it)"; exit 1; }

export SOAK_OUT=${SOAK_OUT:-$ROOT/target/soak/$(date -u +%Y%m%dT%H%M%SZ)}
MATPLOTLIB_VERSION=3.9.2
VENV=$ROOT/target/soak-venv
# shellcheck source=deploy/lib/venv.sh
. "$ROOT/deploy/lib/venv.sh"
venv_with "$VENV" "matplotlib==$MATPLOTLIB_VERSION" 'import matplotlib'

say "building release binaries"
cargo build --release --locked -p taskmaster-api -p taskmaster-syncd -p taskmaster-tests --bins >&2
mkdir -p "$SOAK_OUT"
say "soak -> $SOAK_OUT"
status=0
"$ROOT/target/release/soak" || status=$?
if [ -s "$SOAK_OUT/samples.csv" ]; then
    "$VENV/bin/python" "$ROOT/deploy/soak_plot.py" "$SOAK_OUT/samples.csv" "$SOAK_OUT/soak.png"
    say "plot: $SOAK_OUT/soak.png"
fi
exit "$status"
