#!/usr/bin/env python3
"""preflight over real repositories: files read, images, findings by rule, time — per repository.

Usage: python bench/real_repos.py DIR [--online] [--preflight CMD]

DIR holds checked-out repositories (each a subdirectory; ``owner__name`` names are printed as
``owner/name``). For each one this runs ``preflight check --format json`` in that directory (offline
unless ``--online``), the way a user would, and prints one line per repository:

    owner/name  commit  files  images  time  findings by rule (PF102=22 PF101=3 ...)

followed by every finding of the rules you name with ``--show PF105,PF002`` so they can be
judged by hand. Anyone can rerun it on their own set of repositories.
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path


def commit_of(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    return out.stdout.strip() or "-"


def check(repo: Path, command: list[str], online: bool) -> tuple[float, dict[str, object] | None, str]:
    argv = [*command, "check", ".", "--format", "json", "--exit-zero"]
    if not online:
        argv.append("--offline")
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    try:
        return elapsed, json.loads(proc.stdout), proc.stderr
    except json.JSONDecodeError:
        return elapsed, None, proc.stderr or proc.stdout


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--online", action="store_true", help="also ask the registries (default: --offline)")
    parser.add_argument("--preflight", default=f"{shlex.quote(sys.executable)} -m preflight", help="command to run")
    parser.add_argument("--show", default="", help="comma-separated rule IDs whose findings are printed in full")
    args = parser.parse_args(argv)
    command = shlex.split(args.preflight)
    show = {r.strip().upper() for r in args.show.split(",") if r.strip()}
    repos = sorted(p for p in args.dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    totals: collections.Counter[str] = collections.Counter()
    shown: list[str] = []
    print(f"{'repository':40} {'commit':12} {'files':>5} {'images':>6} {'time':>7}  findings by rule")
    for repo in repos:
        elapsed, report, errors = check(repo, command, args.online)
        name = repo.name.replace("__", "/", 1)
        if report is None:
            print(f"{name:40} {commit_of(repo):12} failed: {errors.strip()[:200]}")
            continue
        summary = report.get("summary", {})
        assert isinstance(summary, dict)
        findings = report.get("findings", [])
        assert isinstance(findings, list)
        by_rule = collections.Counter(str(f.get("rule")) for f in findings)
        totals.update(by_rule)
        rules = " ".join(f"{rule}={count}" for rule, count in sorted(by_rule.items()))
        print(
            f"{name:40} {commit_of(repo):12} {summary.get('files', '?'):>5} {summary.get('images', '?'):>6}"
            f" {elapsed:6.2f}s  {rules or '-'}"
        )
        for f in findings:
            if f.get("rule") in show:
                shown.append(f"  {name}/{f.get('path')}:{f.get('line')}: {f.get('rule')} {f.get('message')}")
    print(f"{'all':40} {'':12} {'':>5} {'':>6} {'':>7}  " + " ".join(f"{r}={c}" for r, c in sorted(totals.items())))
    if shown:
        print("\n".join(shown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
