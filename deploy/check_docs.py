#!/usr/bin/env python3
"""Opens the api's /docs page in headless Chromium and checks it.

Usage: check_docs.py BASE_URL OUT_DIR  (deploy/check-docs.sh runs it)

Checks that the page, with the scripts the api itself serves, lists every
operation of /openapi.json (by operation id), and that one "Try it out"
call (GET /health) succeeds from the page. Saves a screenshot and the
listed operation ids in OUT_DIR. Talks to Chromium over the DevTools
protocol on a pipe (--remote-debugging-pipe), so it needs nothing beyond
Python's standard library. Exits 0 when every check passes.
"""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from browser import Browser  # noqa: E402


def main():
    base, out = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as r:
        spec = json.load(r)
    wanted = sorted(op["operationId"] for item in spec["paths"].values() for op in item.values())
    browser = Browser()
    failures = []
    try:
        browser.open(f"{base}/docs/")
        browser.until("document.querySelectorAll('.opblock').length > 0", "the operations to render")
        # Operations render with their ids (displayOperationId).
        listed = sorted(browser.eval(
            "[...document.querySelectorAll('.opblock-summary-operation-id')].map(e => e.textContent.trim())"))
        with open(os.path.join(out, "operations.txt"), "w") as f:
            f.write("\n".join(listed) + "\n")
        missing = sorted(set(wanted) - set(listed))
        if missing:
            failures.append(f"operations missing from the page: {missing}")
        # Try it out: GET /health, from the page itself.
        browser.eval("document.querySelector('#operations-operations-getHealth "
                     ".opblock-summary-control').click(); true")
        block = "#operations-operations-getHealth"
        browser.until(f"!!document.querySelector('{block} .try-out__btn, {block} .execute')",
                      "the expanded operation")
        # The page turns "Try it out" on by default; turn it on if not.
        if not browser.eval(f"!!document.querySelector('{block} .execute')"):
            browser.eval(f"document.querySelector('{block} .try-out__btn').click(); true")
        browser.until(f"!!document.querySelector('{block} .execute')", "the Execute button")
        browser.eval("document.querySelector('#operations-operations-getHealth .execute').click(); true")
        status = browser.until(
            "(() => { const c = document.querySelector('#operations-operations-getHealth "
            ".live-responses-table tbody .response-col_status'); "
            "return c && c.textContent.trim().slice(0, 3); })()",
            "the call's answer")
        if status != "200":
            failures.append(f"the Try it out call answered {status}, not 200")
        browser.screenshot(os.path.join(out, "docs.png"))
    finally:
        browser.close()
    print(f"check-docs: {len(listed)} of {len(wanted)} operations listed; "
          f"try it out GET /health: {status}; screenshot in {out}/docs.png")
    if failures:
        print("check-docs: FAILED\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("check-docs: ok")


if __name__ == "__main__":
    main()
