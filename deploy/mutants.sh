#!/usr/bin/env bash
# The mutation campaign (README, "Mutation score"): plausible bugs put into
# the code where a bug costs most, one at a time, each judged by the tests
# (the integration tests against real Redis and PostgreSQL are the oracle).
# A mutant the tests miss ("missed") needs a test, or a written reason why
# it behaves as the original (docs/mutants.md). Not part of CI: a mutant
# costs a build and a test run (about a minute here), the whole campaign
# hours.
#
#   ./deploy/mutants.sh                  # every Rust area, then the Lua
#   ./deploy/mutants.sh authz cache      # some areas
#   ./deploy/mutants.sh lua              # only the Lua scripts' mutants
#   MUTANTS_ITERATE=1 ./deploy/mutants.sh flush   # skip what was caught
#   MUTANTS_SHARD=0/8 ./deploy/mutants.sh         # every 8th mutant: a sample
#   MUTANTS_NAMES=names.txt ./deploy/mutants.sh keys  # these mutants only
#
# Rust areas use cargo-mutants (crates.io, installed under target/tools),
# which mutates in place: the tree must be committed first, and is
# restored after each mutant. The Lua scripts' mutants come from
# deploy/mutants_lua.py (a line dropped, a comparison flipped), a seeded
# sample (MUTANTS_LUA, default 40; MUTANTS_SEED). Each area's results go
# to target/mutants/<area>/ (cargo-mutants' mutants.out/, or lua.json);
# the score of every area to target/mutants/score.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }

CARGO_MUTANTS_VERSION=27.1.0
TOOLS=$ROOT/target/tools
OUT=$ROOT/target/mutants

# area -> the files mutated, the packages whose tests judge, and the test
# name filters (a test runs when its path contains any of them).
area() {
    case "$1" in
        authz) FILES="api/src/authz.rs api/src/access.rs"
               PACKAGES="taskmaster-api taskmaster-tests"
               FILTERS="authz access permissions admin groups users own_tasks task_views tasks::a_task_that_is_not_there" ;;
        cache) FILES="api/src/auth/cache.rs"
               PACKAGES="taskmaster-api taskmaster-tests"
               FILTERS="auth::cache users sessions api_tokens cookies limits::a_right_password limits::fifty_parallel metrics::the_credential" ;;
        validation) FILES="shared/src/domain/mod.rs shared/src/domain/task_fields.rs shared/src/domain/work_times.rs"
               PACKAGES="taskmaster-shared taskmaster-tests"
               FILTERS="domain validation task_fields users::work_times tasks:: openapi labels" ;;
        flush) FILES="syncd/src/flush/mod.rs syncd/src/flush/write.rs syncd/src/flush/handoff.rs"
               PACKAGES="taskmaster-syncd taskmaster-tests"
               FILTERS="flush sync:: dirty big_deletes rebuild redis_loss webhook_rows lease:: admin::force_flushes ctl::the_cli_reports observability::syncd_metrics" ;;
        restore) FILES="syncd/src/restore.rs"
               PACKAGES="taskmaster-syncd taskmaster-tests"
               FILTERS="restore restore_keyspace rebuild redis_loss sessions::a_restore" ;;
        keys) FILES="shared/src/keys/mod.rs"
               PACKAGES="taskmaster-shared taskmaster-tests"
               FILTERS="keys redis_access restore_keyspace sync:: tasks:: dirty sort_indexes list_pages import_jobs webhook_delivery" ;;
        *) return 1 ;;
    esac
}
RUST_AREAS="authz cache validation flush restore keys"

command -v redis-server >/dev/null || { say "redis-server is missing: run ./deploy/dev.sh test once (it installs it)"; exit 1; }
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
export PG_BIN
# The tests spawn the api's and syncd's programs: built from the mutant.
export TASKMASTER_BUILD_BINS=1

areas=${*:-$RUST_AREAS lua}
for a in $areas; do
    [ "$a" = lua ] || area "$a" || { echo "unknown area: $a (areas: $RUST_AREAS lua)" >&2; exit 64; }
done
git diff --quiet HEAD -- api shared syncd || { say "commit first: the mutants are made in the tree itself"; exit 1; }

if [[ " $areas " != " lua " ]] && ! "$TOOLS/bin/cargo-mutants" mutants --version 2>/dev/null | grep -q "$CARGO_MUTANTS_VERSION"; then
    say "installing cargo-mutants $CARGO_MUTANTS_VERSION into $TOOLS"
    cargo install --locked --root "$TOOLS" "cargo-mutants@$CARGO_MUTANTS_VERSION" >&2
fi
cargo build --locked --workspace --bins >&2

mkdir -p "$OUT"
for a in $areas; do
    if [ "$a" = lua ]; then
        say "Lua mutants -> $OUT/lua"
        python3 "$ROOT/deploy/mutants_lua.py" --out "$OUT/lua" \
            --count "${MUTANTS_LUA:-40}" --seed "${MUTANTS_SEED:-1}" || true
        continue
    fi
    area "$a"
    say "area $a: $FILES"
    args=(--in-place --baseline skip --timeout 600 --build-timeout 900
          --output "$OUT/$a" --no-shuffle)
    [ -n "${MUTANTS_ITERATE:-}" ] && args+=(--iterate)
    # A systematic sample: mutant i runs on shard i % n, so every part of
    # each file is tried (the whole campaign is about 530 mutants, 1 to 3
    # minutes each here).
    [ -n "${MUTANTS_SHARD:-}" ] && args+=(--shard "$MUTANTS_SHARD" --sharding round-robin)
    # Mutants by name, one a line as cargo-mutants lists them (a missed.txt
    # of an earlier run, say): each an exact pattern, so a shard that moved
    # when the code changed can still be run as it was. (cargo-mutants 27.1
    # runs struct-field deletions whatever the names: sourcefrog/cargo-mutants#632.)
    if [ -n "${MUTANTS_NAMES:-}" ]; then
        named=0
        while IFS= read -r name; do
            for f in $FILES; do
                [[ "$name" == "$f:"* ]] || continue
                args+=(-F "^$(printf '%s' "$name" | sed 's/[][\\.^$*+?(){}|]/\\&/g')\$")
                named=$((named + 1))
            done
        done < "$MUTANTS_NAMES"
        [ "$named" -gt 0 ] || { say "area $a: none of the names is in its files"; continue; }
    fi
    for f in $FILES; do args+=(--file "$f"); done
    for p in $PACKAGES; do args+=(--test-package "$p"); done
    # shellcheck disable=SC2086 # the filters are words
    "$TOOLS/bin/cargo-mutants" mutants "${args[@]}" -- --locked --lib --test integration -- $FILTERS || true
done

# The score: caught / (caught + missed); timeouts count as caught (a hang
# is a failed test), unviable mutants (that do not build) not at all.
{
    printf '%-11s %7s %7s %7s %9s  %s\n' area caught missed timeout unviable score
    for a in $areas; do
        if [ "$a" = lua ]; then f=$OUT/lua/lua.json; else f=$OUT/$a/mutants.out/outcomes.json; fi
        [ -f "$f" ] || continue
        python3 - "$a" "$f" <<'EOF'
import json, sys
area, path = sys.argv[1], sys.argv[2]
data = json.load(open(path))
c = {k: data.get(k, 0) for k in ("caught", "missed", "timeout", "unviable")}
judged = c["caught"] + c["missed"] + c["timeout"]
score = f'{100 * (c["caught"] + c["timeout"]) / judged:.0f}%' if judged else "-"
print(f'{area:<11} {c["caught"]:7} {c["missed"]:7} {c["timeout"]:7} {c["unviable"]:9}  {score}')
EOF
    done
} | tee "$OUT/score.txt"
for a in $areas; do
    [ -f "$OUT/$a/mutants.out/missed.txt" ] && [ -s "$OUT/$a/mutants.out/missed.txt" ] &&
        { say "missed in $a:"; cat "$OUT/$a/mutants.out/missed.txt"; }
done
exit 0
