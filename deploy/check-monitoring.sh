#!/usr/bin/env bash
# Checks what deploy/ ships for Prometheus and Grafana:
#
#   ./deploy/check-monitoring.sh      # CI runs it
#
# * promtool (from Debian's `prometheus` package, installed when missing)
#   checks the scrape configuration and the alert rules, and runs the
#   rules' unit tests (deploy/prometheus/alerts_test.yml);
# * every metric the alerts and the Grafana dashboard use is one the api
#   or syncd exports (the tables in api/src/metrics/mod.rs and
#   syncd/src/metrics.rs), so a renamed metric cannot leave a panel blank;
# * the whole system, started with `dev.sh up` (as check-docs.sh does),
#   serves metrics that `promtool check metrics` (Prometheus' own parser
#   and linter) accepts, from the api and from syncd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[check-monitoring] %s\n' "$*" >&2; }

if ! command -v promtool >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { say "promtool is missing: apt-get install prometheus (as root)"; exit 1; }
    say "installing prometheus (for promtool)"
    # Only the tool is wanted: keep the package's service from starting.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

cd "$ROOT/deploy/prometheus"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml

python3 - "$ROOT" <<'PY'
import json, re, sys
root = sys.argv[1]
exported = set()
for path in ["api/src/metrics/mod.rs", "syncd/src/metrics.rs"]:
    exported |= set(re.findall(r"^//! \| `(taskmaster_[a-z_]+)`", open(f"{root}/{path}").read(), re.M))
used = set()
texts = [open(f"{root}/deploy/prometheus/alerts.yml").read()]
dashboard = json.load(open(f"{root}/deploy/grafana/taskmaster.json"))
texts += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
for text in texts:
    for name in re.findall(r"\b(taskmaster_[a-z_]+)", text):
        used.add(re.sub(r"_(bucket|sum|count)$", "", name))
missing = sorted(used - exported)
if missing:
    sys.exit(f"[check-monitoring] used but never exported: {missing}")
print(f"[check-monitoring] {len(used)} metrics used by the alerts and the dashboard, all exported "
      f"({len(exported)} in all); {len(dashboard['panels'])} dashboard panels")
PY

# shellcheck source=deploy/lib/system.sh
. "$ROOT/deploy/lib/system.sh"
start_system
# Some traffic first, so that every kind of series is there.
for path in /health /users /status/data /no/such/path; do
    curl -s -o /dev/null -H "X-Owner-Password: $OWNER" "$BASE$path"
done
for _ in $(seq 1 60); do curl -sf "http://$SYNCD_METRICS/metrics" >/dev/null && break; sleep 0.5; done
for url in "$BASE/metrics" "http://$SYNCD_METRICS/metrics"; do
    body=$(curl -sf "$url")
    printf '%s\n' "$body" | promtool check metrics
    say "promtool accepts $url ($(printf '%s\n' "$body" | grep -vc '^#') samples)"
done
