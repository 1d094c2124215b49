#!/usr/bin/env bash
# Checks GET /docs in a real browser, as a user would see it:
#
#   ./deploy/check-docs.sh        # CI runs it after the test suite
#
# Starts the whole system with `dev.sh up` (on free ports, in a data
# directory of its own, with the debug build the test suite made unless
# TASKMASTER_PROFILE says otherwise), opens /docs in headless Chromium
# (Debian's `chromium`, installed when missing), and checks with
# deploy/check_docs.py that every operation of /openapi.json is listed and
# that a "Try it out" call succeeds. The screenshot and the listed
# operations land in CHECK_DOCS_OUT (default target/check-docs). Stops
# everything it started, whatever happens, and exits non-zero on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CHECK_DOCS_OUT:-$ROOT/target/check-docs}
say() { printf '[check-docs] %s\n' "$*" >&2; }

# shellcheck source=deploy/lib/system.sh
. "$ROOT/deploy/lib/system.sh"
ensure_chromium
start_system
python3 "$ROOT/deploy/check_docs.py" "$BASE" "$OUT"
