#!/usr/bin/env bash
# Checks GET /status in a real browser, as the owner would use it:
#
#   ./deploy/check-status-page.sh     # CI runs it after the test suite
#
# Starts the whole system with `dev.sh up` (on free ports, in a data
# directory of its own, with the debug build the test suite made unless
# TASKMASTER_PROFILE says otherwise), runs a write load against it, and
# with headless Chromium (Debian's `chromium`, installed when missing)
# checks with deploy/check_status_page.py that a signed-out visitor and a
# signed-in non-owner see no data, that the owner signs in on the page and
# sees the numbers update, and that the page fits a phone's width.
# Screenshots land in CHECK_STATUS_OUT (default target/check-status-page).
# Stops everything it started, whatever happens, and exits non-zero on
# failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CHECK_STATUS_OUT:-$ROOT/target/check-status-page}
say() { printf '[check-status-page] %s\n' "$*" >&2; }

# shellcheck source=deploy/lib/system.sh
. "$ROOT/deploy/lib/system.sh"
ensure_chromium
start_system
OWNER_EMAIL=${OWNER_EMAIL:-admin@gmail.com} python3 "$ROOT/deploy/check_status_page.py" "$BASE" "$OWNER" "$OUT"
