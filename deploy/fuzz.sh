#!/usr/bin/env bash
# Fuzzes the api with Schemathesis (from PyPI), driven by its own OpenAPI
# document, as each of the three kinds of caller:
#
#   ./deploy/fuzz.sh                  # short: about 3 minutes (CI runs it)
#   FUZZ_MODE=campaign ./deploy/fuzz.sh   # until at least FUZZ_REQUESTS
#                                     # requests (default 100,000) are sent,
#                                     # FUZZ_SECONDS (300) per caller a round
#
# Starts the whole system (deploy/lib/system.sh); each round seeds a fresh
# group admin, plain user, group and task, then runs `schemathesis run` with
# every phase (examples, coverage, fuzzing, stateful: the spec's links chain
# creates to the operations on what they created) as the user and the group
# admin (Basic, and the user also with a session's bearer token and with a
# personal API token;
# fuzz_hooks.py keeps each one's own password; the session's run leaves
# out its own logout) and the owner
# (header), with the checks: not a server error,
# status code documented, content type and body conform to the schema.
# Requests time out after 10 s (a hang counts as a failure). Reports,
# per-run logs and HAR files land in FUZZ_OUT (default target/fuzz); the
# last line sums up requests, 5xx, schema violations, hangs. Exits
# non-zero on any failure. Schemathesis is pinned and installed into a
# virtualenv under target/ (python3-venv is installed when missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${FUZZ_MODE:-short}
OUT=${FUZZ_OUT:-$ROOT/target/fuzz}
WANTED=${FUZZ_REQUESTS:-100000}
SCHEMATHESIS_VERSION=4.32.5
say() { printf '[fuzz] %s\n' "$*" >&2; }
case "$MODE" in short|campaign) ;; *) say "FUZZ_MODE must be short or campaign"; exit 64 ;; esac

VENV=$ROOT/target/fuzz-venv
# shellcheck source=deploy/lib/venv.sh
. "$ROOT/deploy/lib/venv.sh"
venv_with "$VENV" "schemathesis==$SCHEMATHESIS_VERSION" 'import schemathesis'

# shellcheck source=deploy/lib/system.sh
. "$ROOT/deploy/lib/system.sh"
# Rate limiting stays on (its code runs on every request) with a limit no
# fuzzer reaches; registration is open, so that its success is fuzzed too;
# the session token outlives a campaign's round.
export RATE_LIMIT_PER_MINUTE=10000000 RATE_LIMIT_BURST=10000000 REGISTRATION=open ACCESS_TOKEN_TTL=6h
# The run registers webhooks with whatever URLs it makes up: they are
# queued, never sent, so that fuzzing stays on this machine.
export WEBHOOK_DELIVERY=off
start_system
rm -rf "$OUT" && mkdir -p "$OUT"

# The callers: a group admin of a group with a plain member who has a task,
# made afresh each round (the owner's run deletes at random).
api() { curl -sf -H "X-Owner-Password: $OWNER" -H 'content-type: application/json' "$@"; }
id_of() { python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d[sys.argv[1]]["id"])' "$1"; }
GA_PW=fuzz-admin-pw USER_PW=fuzz-user-pw
# A personal API token of the plain user (full scope).
token_of() { # token_of ID PASSWORD
    local answer
    answer=$(curl -s -u "$1:$2" -H 'content-type: application/json' -d '{"name":"fuzz"}' "$BASE/auth/tokens")
    python3 -c 'import json, sys; d = json.loads(sys.argv[1])["data"]; print(d["token"], d["api_token"]["id"])' "$answer" ||
        { say "cannot make a token for user $1: $answer"; exit 1; }
}
seed() { # seed ROUND: sets GA, USR, TOKEN, FUZZ_KEEP_TOKEN
    GA=$(api -d "{\"full_name\":\"Fuzz Admin $1\",\"email\":\"ga$1@fuzz.example\",\"password\":\"$GA_PW\",\"role\":\"group_admin\"}" "$BASE/users" | id_of user)
    USR=$(api -d "{\"full_name\":\"Fuzz User $1\",\"email\":\"user$1@fuzz.example\",\"password\":\"$USER_PW\",\"role\":\"user\"}" "$BASE/users" | id_of user)
    local group
    group=$(api -d "{\"name\":\"Fuzz $1\",\"admin_id\":$GA}" "$BASE/groups" | id_of group)
    api -d "{\"user_id\":$USR}" "$BASE/groups/$group/users" >/dev/null
    api -d "{\"title\":\"Fuzz task\",\"group_id\":$group}" "$BASE/users/$USR/tasks" >/dev/null
    # Made now, before the user's own run can fill its 50 tokens; no run
    # revokes it (see fuzz_hooks.py).
    read -r TOKEN FUZZ_KEEP_TOKEN < <(token_of "$USR" "$USER_PW")
    export FUZZ_KEEP_TOKEN
}
# An access token of a session of the plain user. The runs before hammer
# the account endpoints from this address (their stricter limit) and the
# user's logins (the guessing limit): those counts are forgotten first.
session_of() { # session_of ID PASSWORD
    redis-cli -p "$REDIS_PORT" --scan --pattern 'tm:rate:auth:*' | xargs -r redis-cli -p "$REDIS_PORT" del >/dev/null
    redis-cli -p "$REDIS_PORT" del "tm:limit:user:$1" >/dev/null
    local answer
    answer=$(curl -s -H 'content-type: application/json' -d "{\"login\":$1,\"password\":\"$2\"}" "$BASE/auth/login")
    python3 -c 'import json, sys; print(json.loads(sys.argv[1])["data"]["access_token"])' "$answer" ||
        { say "cannot log in as user $1: $answer"; exit 1; }
}
# Keeps each caller's own password (see fuzz_hooks.py).
export PYTHONPATH=$ROOT/deploy SCHEMATHESIS_HOOKS=fuzz_hooks

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
run_as() { # run_as NAME SECONDS AUTH-ARGS...
    local name=$1 seconds=$2
    shift 2
    local status=0
    # From OUT: Schemathesis and Hypothesis keep their caches in the
    # working directory.
    # GET /events is an event stream that never ends: every valid request
    # would be a timeout (tests/it/feed.rs drives it with a real client).
    (cd "$OUT" && "$VENV/bin/schemathesis" run "$BASE/openapi.json" "$@" \
        --exclude-path /events \
        --checks "$CHECKS" --phases examples,coverage,fuzzing,stateful \
        --max-time "$seconds" --workers 2 --request-timeout 10 --suppress-health-check all \
        --report har,junit --report-dir "$OUT/$name") >"$OUT/$name.log" 2>&1 || status=$?
    tail -25 "$OUT/$name.log" | sed -n '/SUMMARY/,$p' >&2
    # Schemathesis also exits non-zero on errors of its own (a Hypothesis
    # "Runtime Error" while generating): those are not findings about the
    # api, and are counted apart in the summary.
    if [ "$status" -ne 0 ] && ! grep -q '^Failures:' "$OUT/$name.log"; then
        say "$name: no failure of the api; schemathesis reported errors of its own (see $name.log)"
        status=0
    fi
    return $status
}

# The user (Basic, then a session's bearer token) and the group admin
# first: the owner's run deletes at random.
runs=(user bearer token group_admin owner)
failed=0
round=0
while :; do
    round=$((round + 1))
    seed "$round"
    for who in "${runs[@]}"; do
        seconds=${FUZZ_SECONDS:-30}
        [ "$MODE" = campaign ] && seconds=${FUZZ_SECONDS:-300}
        case $who in
            user) auth=(--auth "$USR:$USER_PW") self=$USR ;;
            # Logged in after the Basic run, which may end every session
            # of the user (`logout?all=true`); its own logout is fuzzed by
            # the other callers, not by the session it would end.
            bearer)
                token=$(session_of "$USR" "$USER_PW") || exit 1
                auth=(--header "Authorization: Bearer $token" --exclude-path /auth/logout) self=$USR ;;
            # A personal token: every operation, its own revocation included
            # (the stateful phase revokes only tokens it made).
            token) auth=(--header "Authorization: Bearer $TOKEN") self=$USR ;;
            group_admin) auth=(--auth "$GA:$GA_PW") self=$GA ;;
            owner) auth=(--header "X-Owner-Password: $OWNER") self= ;;
        esac
        # The other callers' runs send made-up X-Owner-Password values (the
        # spec offers both schemes), which the api counts and, past the
        # limit, refuses for everyone from this address: forget those
        # counts so the owner's run tests the owner's paths.
        if [ "$who" = owner ]; then
            redis-cli -p "$REDIS_PORT" --scan --pattern 'tm:limit:owner:*' \
                | xargs -r redis-cli -p "$REDIS_PORT" del >/dev/null
        fi
        say "round $round: as $who for ${seconds}s"
        export FUZZ_SELF_ID=$self
        run_as "$who-$round" "$seconds" "${auth[@]}" || failed=1
    done
    sent=$(cat "$OUT"/*/har-*.json | { grep -c '"startedDateTime"' || true; })
    [ "$MODE" = short ] && break
    [ "$sent" -ge "$WANTED" ] && break
    say "$sent requests so far; going on to $WANTED"
done

# The figures, from the HAR files (every request and its answer) and the
# runs' own summaries.
summary=$(python3 - "$OUT" "$MODE" <<'PY'
import glob, json, re, sys
out, mode = sys.argv[1], sys.argv[2]
sent = server_errors = maintenance = slow = 0
for path in glob.glob(f"{out}/*/har-*.json"):
    with open(path) as f:
        for entry in json.load(f)["log"]["entries"]:
            sent += 1
            status = entry["response"]["status"]
            # 503 "Maintenance in progress": the documented answer while a
            # restore the owner's run asked for is running (fuzz_hooks.py).
            if status == 503 and "Maintenance in progress" in entry["response"]["content"].get("text", ""):
                maintenance += 1
            else:
                server_errors += status >= 500
            slow += entry.get("time", 0) >= 10_000
violations = hangs = tool_errors = 0
for path in glob.glob(f"{out}/*.log"):
    text = open(path, errors="replace").read()
    tool_errors += sum(int(n) for n in re.findall(r"Runtime Error: (\d+)", text))
    violations += sum(int(n) for n in re.findall(
        r"(?:Response violates schema|Undocumented (?:status code|Content-Type)): (\d+)", text))
    hangs += len(re.findall(r"(?i)read timed out|request timed out", text))
print(f"fuzz ({mode}): {sent} requests, {server_errors} answered 5xx, "
      f"{violations} schema or status violations, {hangs + slow} hangs "
      f"({maintenance} answered 503 during a restore the run asked for; "
      f"{tool_errors} errors of schemathesis itself)")
PY
)
echo "$summary" | tee "$OUT/summary.txt"
exit $failed
