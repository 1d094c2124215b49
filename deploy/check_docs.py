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

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


class Browser:
    """A headless Chromium driven over --remote-debugging-pipe."""

    def __init__(self):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            sys.exit("chromium is not installed")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire():
            # Chromium reads commands on fd 3 and writes answers on fd 4.
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.profile = tempfile.mkdtemp(prefix="check-docs-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--window-size=1280,2400",
             f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        return self.wait_for(self.next_id)

    def wait_for(self, wanted, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if message.get("id") == wanted:
                    if "error" in message:
                        raise RuntimeError(f"{message['error']}")
                    return message.get("result", {})
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium went away")
            self.buffer += chunk
        raise TimeoutError(f"no answer to command {wanted}")

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def eval(self, expression):
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "script error"))
        return result["result"].get("value")

    def until(self, expression, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}")

    def screenshot(self, path):
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


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
