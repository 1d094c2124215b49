#!/usr/bin/env python3
"""Opens the api's status page in headless Chromium and checks it.

Usage: check_status_page.py BASE_URL OWNER_PASSWORD OUT_DIR
(deploy/check-status-page.sh runs it; OWNER_EMAIL names the owner's login)

1. Signed out, the page asks for a login and shows no data.
2. A user who is not the owner signs in on the page: it says the page is
   the owner's, and no number appears (its data request was refused).
3. The owner signs in on the page, under a write load (a thread creating
   tasks for the whole check, stopping by itself): the requests per
   second, the latencies and the pending rows show, and change from poll
   to poll.
4. At a phone's width (390 px) nothing is wider than the screen.

Screenshots of each step go to OUT_DIR. Exits 0 when every check passes.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from browser import Browser  # noqa: E402


def call(base, method, path, body=None, owner=None):
    headers = {"content-type": "application/json"}
    if owner:
        headers["x-owner-password"] = owner
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def write_load(base, owner, user_id, group_id, stop, deadline):
    """Creates tasks until told to stop (or the deadline passes)."""
    n = 0
    while not stop.is_set() and time.time() < deadline:
        call(base, "POST", f"/users/{user_id}/tasks",
             {"title": f"status check {n}", "group_id": group_id, "priority": 2}, owner)
        n += 1
        time.sleep(0.02)


def visible(element_id):
    """A script expression: the element exists and is shown."""
    return f"(() => {{ const e = document.getElementById('{element_id}'); return !!e && !e.hidden; }})()"


def sign_in(browser, login, password):
    browser.until(visible("login"), "the login form")
    browser.eval(f"""(() => {{
        document.getElementById('login-name').value = {json.dumps(login)};
        document.getElementById('login-password').value = {json.dumps(password)};
        document.getElementById('login').requestSubmit();
        return true; }})()""")


def tiles(browser):
    return browser.eval("""(() => Object.fromEntries(['rps','p50','p99','errors','lag','pending']
        .map(id => [id, document.getElementById(id).textContent])))()""")


def main():
    base, owner, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    owner_email = os.environ.get("OWNER_EMAIL", "admin@gmail.com")
    os.makedirs(out, exist_ok=True)
    failures = []

    # A team to write into, and a user who is not the owner.
    stamp = int(time.time() * 1000)
    status, body = call(base, "POST", "/users", {
        "email": f"status-check-{stamp}@example.com", "password": "status-check-secret",
        "full_name": "Status Check", "role": "group_admin"}, owner)
    assert status == 201, (status, body)
    user_id = body["data"]["user"]["id"]
    status, body = call(base, "POST", "/groups",
                        {"name": f"status-check-{stamp}", "admin_id": user_id}, owner)
    assert status == 201, (status, body)
    group_id = body["data"]["group"]["id"]

    stop = threading.Event()
    load = threading.Thread(target=write_load,
                            args=(base, owner, user_id, group_id, stop, time.time() + 300))
    load.start()
    browser = Browser(window="1280,1600")
    try:
        # 1. Signed out: a login form, no data.
        browser.open(f"{base}/status")
        browser.until(visible("login"), "the login form")
        if not browser.eval("document.getElementById('dashboard').hidden"):
            failures.append("signed out, the dashboard is shown")
        browser.screenshot(os.path.join(out, "1-signed-out.png"))

        # 2. Not the owner: told so, and no numbers.
        sign_in(browser, f"status-check-{stamp}@example.com", "status-check-secret")
        browser.until(visible("message"), "the owner-only message")
        shown = tiles(browser)
        if any(v != "–" for v in shown.values()) or not browser.eval(
                "document.getElementById('dashboard').hidden"):
            failures.append(f"a non-owner saw data: {shown}")
        text = browser.eval("document.getElementById('message').textContent")
        if "owner" not in text:
            failures.append(f"the non-owner was not told why: {text!r}")
        browser.screenshot(os.path.join(out, "2-not-the-owner.png"))
        # Signed out again (the page keeps no data between sessions).
        browser.eval("fetch('/auth/logout', {method: 'POST', credentials: 'same-origin', headers: "
                     "{'X-CSRF-Token': (document.cookie.match(/(?:^|; )tm_csrf=([^;]*)/) || [])[1] || ''}})"
                     ".then(() => location.reload()), true")
        time.sleep(1)

        # 3. The owner, under load: the numbers show and change.
        sign_in(browser, owner_email, owner)
        browser.until(visible("dashboard"), "the dashboard")
        browser.until("Number(document.body.dataset.polls || 0) >= 3", "three polls", timeout=30)
        first = tiles(browser)
        polls = browser.eval("Number(document.body.dataset.polls)")
        browser.until(f"Number(document.body.dataset.polls) >= {polls + 3}", "three more polls", timeout=30)
        second = tiles(browser)
        print(f"check-status-page: tiles {first} then {second}")
        for key in ["rps", "p50", "p99", "pending"]:
            if second[key] in ("–", ""):
                failures.append(f"{key} shows nothing under load: {second}")
        try:
            if float(second["rps"]) <= 0:
                failures.append(f"no requests per second under load: {second['rps']}")
        except ValueError:
            failures.append(f"requests per second is not a number: {second['rps']!r}")
        if first == second:
            failures.append(f"the numbers did not change between polls: {first}")
        if browser.eval("document.getElementById('lease').textContent") in ("–", "nobody"):
            failures.append("no lease holder shown (is syncd running?)")
        points = browser.eval("document.querySelectorAll('.uplot').length")
        if points != 3:
            failures.append(f"{points} charts drawn, not 3")
        browser.screenshot(os.path.join(out, "3-owner-under-load.png"))

        # 4. A phone's width: nothing wider than the screen.
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        time.sleep(1)
        wide = browser.eval("document.documentElement.scrollWidth")
        if wide > 392:
            failures.append(f"at 390 px wide the page is {wide} px wide")
        browser.screenshot(os.path.join(out, "4-phone.png"))
    finally:
        stop.set()
        load.join(15)
        browser.close()
    if failures:
        print("check-status-page: FAILED\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"check-status-page: ok; screenshots in {out}")


if __name__ == "__main__":
    main()
