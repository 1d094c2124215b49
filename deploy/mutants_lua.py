#!/usr/bin/env python3
"""Mutants of the Lua scripts (deploy/mutants.sh runs it): cargo-mutants
mutates Rust only, and every write of the system is a Lua script.

Two kinds of plausible bug, one at a time:
  * drop a line: a statement that stands on one line (a Redis call, a
    dirty mark, a guard such as `if ... then return err(...) end`);
  * flip a comparison: == and ~=, < and >=, > and <=.
A seeded sample of all candidates is tried: the script is changed in the
tree, the tests named for its kind of script run (the integration tests
against real Redis and PostgreSQL), and the script is restored. A mutant
the tests miss needs a test, or a reason why it behaves as the original
(docs/mutants.md).

  python3 deploy/mutants_lua.py --out target/mutants/lua --count 40 --seed 1
  python3 deploy/mutants_lua.py --list          # every candidate
  python3 deploy/mutants_lua.py --out target/mutants/lua-again --match 'token_create.lua:18 drop'
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRS = [ROOT / "api/src/store/lua", ROOT / "syncd/src/lua"]

# Script name patterns -> the integration tests that judge them.
FILTERS = [
    (r"^(write_tasks|create_tasks|rows|task_page|order_retire|sort_build|rename_label|create_check)$",
     "tasks:: task_fields task_views own_tasks labels label_index sort_indexes list_pages dirty quotas conditional idempotency"),
    (r"^(create_user|update_user|delete_user|add_member|remove_member|leave|leave_step|create_group|update_group|delete_group|group_detail)$",
     "users:: groups:: permissions admin dirty stepped_writes big_deletes conditional idempotency api_tokens::a_deactivated_user"),
    (r"^(session_|token_|remember_|rotate_|bootstrap_)",
     "sessions api_tokens users:: cookies audit::every_write"),
    (r"^(import_|job_|jobs)", "imports import_jobs"),
    (r"^(gcra|limit_|meter)", "rate_limits limits quotas"),
    (r"^webhook", "webhook"),
    (r"^(changes_page|audit_tail)$", "feed audit"),
    (r"^common$", "tasks:: users:: groups:: permissions dirty feed audit redis_loss labels label_index conditional restore::the_maintenance_flag"),
    # syncd's scripts
    (r"^(take_dirty|clear_inflight|skip_ids|trim_changes)$",
     "sync:: dirty restore rebuild redis_loss feed audit big_deletes"),
    (r"^(lease|release)$", "lease admin::only_one binaries rebuild::a_syncd_paused"),
    (r"^fenced_batch$", "restore rebuild"),
]

FLIPS = {"==": "~=", "~=": "==", "<=": ">", ">=": "<", "<": ">=", ">": "<="}
COMPARISON = re.compile(r"==|~=|<=|>=|<|>")
OPENS_BLOCK = re.compile(r"^\s*(end|else|elseif|until|repeat|function|local function|return\s*$)\b")


def filters_for(script: str) -> str:
    for pattern, filters in FILTERS:
        if re.search(pattern, script):
            return filters
    return "tasks:: users:: groups::"


def code_spans(line: str):
    """(start, end) of the parts of a line outside strings and comments."""
    spans, i, start, quote = [], 0, 0, None
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote, start = None, i + 1
        elif c in "'\"":
            spans.append((start, i))
            quote = c
        elif line.startswith("--", i):
            spans.append((start, i))
            return spans
        i += 1
    if not quote:
        spans.append((start, len(line)))
    return spans


def balanced(line: str) -> bool:
    code = "".join(line[a:b] for a, b in code_spans(line))
    return all(code.count(o) == code.count(c) for o, c in ("()", "{}", "[]"))


def droppable(line: str) -> bool:
    s = line.strip()
    if not s or s.startswith("--") or OPENS_BLOCK.match(s) or s.startswith("local "):
        return False
    if not balanced(line) or s.endswith((",", "(", "{", "..", "and", "or", "=")):
        return False
    # A one-line `if ... then ... end` is a guard; other ifs and loops open a block.
    if re.match(r"^(if|for|while)\b", s):
        return s.endswith(" end")
    return s.startswith(("redis.call", "redis.pcall")) or re.match(r"^[a-z_][\w.]*\(", s) is not None


def candidates():
    out = []
    for d in DIRS:
        for path in sorted(d.glob("*.lua")):
            lines = path.read_text().split("\n")
            for n, line in enumerate(lines):
                if droppable(line):
                    out.append({"file": str(path.relative_to(ROOT)), "line": n + 1, "kind": "drop",
                                "original": line.strip(), "mutated": ""})
                for a, b in code_spans(line):
                    for m in COMPARISON.finditer(line, a, b):
                        # `->` never occurs in Lua; `<` after `<` is not a token here.
                        new = line[:m.start()] + FLIPS[m.group()] + line[m.end():]
                        out.append({"file": str(path.relative_to(ROOT)), "line": n + 1, "kind": "flip",
                                    "original": line.strip(), "mutated": new.strip(), "col": m.start()})
    return out


def apply(mutant) -> str:
    path = ROOT / mutant["file"]
    text = path.read_text()
    lines = text.split("\n")
    i = mutant["line"] - 1
    if mutant["kind"] == "drop":
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines[i] = indent + "-- (mutant: line dropped)"
    else:
        c = mutant["col"]
        m = COMPARISON.match(lines[i], c)
        lines[i] = lines[i][:c] + FLIPS[m.group()] + lines[i][m.end():]
    path.write_text("\n".join(lines))
    return text


def run(cmd, timeout, log):
    with open(log, "ab") as f:
        f.write(("\n$ " + " ".join(cmd) + "\n").encode())
        f.flush()
        try:
            return subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "target/mutants/lua"))
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--match", help="run every candidate whose `file:line kind` matches this "
                    "regex (no sample): to try survivors again")
    args = ap.parse_args()
    every = candidates()
    if args.match:
        every = [m for m in every if re.search(args.match, f'{m["file"]}:{m["line"]} {m["kind"]}')]
    if args.list:
        for m in every:
            print(f'{m["file"]}:{m["line"]} {m["kind"]}: {m["original"]} -> {m["mutated"] or "(dropped)"}')
        print(f"{len(every)} candidates", file=sys.stderr)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = every if args.match else random.Random(args.seed).sample(every, min(args.count, len(every)))
    results = {"caught": 0, "missed": 0, "timeout": 0, "unviable": 0, "candidates": len(every),
               "seed": args.seed, "mutants": []}
    env_ok = os.environ.get("TASKMASTER_BUILD_BINS") == "1"
    if not env_ok:
        print("TASKMASTER_BUILD_BINS=1 is needed (deploy/mutants.sh sets it)", file=sys.stderr)
        return 64
    for n, m in enumerate(sample, 1):
        script = Path(m["file"]).stem
        filters = filters_for(script).split()
        log = out / f"{n:03}.log"
        log.unlink(missing_ok=True)
        original = apply(m)
        started = time.time()
        try:
            built = run(["cargo", "test", "--locked", "--no-run", "-p", "taskmaster-tests"], 900, log)
            if built != 0:
                outcome = "unviable"
            else:
                rc = run(["cargo", "test", "--locked", "-p", "taskmaster-tests", "--test", "integration",
                          "--", *filters], args.timeout, log)
                outcome = "timeout" if rc is None else ("missed" if rc == 0 else "caught")
        finally:
            (ROOT / m["file"]).write_text(original)
        m.update(outcome=outcome, seconds=round(time.time() - started), filters=" ".join(filters),
                 log=str(log))
        results[outcome] += 1
        results["mutants"].append(m)
        print(f'[{n}/{len(sample)}] {outcome:8} {m["file"]}:{m["line"]} {m["kind"]}: {m["original"]}'
              + (f' -> {m["mutated"]}' if m["mutated"] else ""), flush=True)
        (out / "lua.json").write_text(json.dumps(results, indent=1))
    missed = [m for m in results["mutants"] if m["outcome"] == "missed"]
    (out / "missed.txt").write_text("".join(
        f'{m["file"]}:{m["line"]} {m["kind"]}: {m["original"]} -> {m["mutated"] or "(dropped)"}\n'
        for m in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
