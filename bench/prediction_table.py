#!/usr/bin/env python3
"""The prediction suite's table: scenario, the real build's outcome here and on a clean machine,
and preflight's verdict, for every scenario of tests/registry/test_engine_predictions.py.

Usage: python bench/prediction_table.py [-k EXPRESSION]

Runs that test module (a real dockerd, Distribution, Debian's docker-compose; a few minutes) and
prints the table it collects. Scenarios that disagree fail their test and are still in the table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/registry/test_engine_predictions.py"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pf-predict-") as work:
        table = Path(work) / "table.txt"
        env = dict(os.environ, PREFLIGHT_PREDICTION_TABLE=str(table))
        command = [sys.executable, "-m", "pytest", MODULE, "-q", "-p", "no:cacheprovider", *sys.argv[1:]]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if not table.exists():
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
            return done.returncode or 1
        print(table.read_text(encoding="utf-8"), end="")
        summary = done.stdout.strip().splitlines()
        print(summary[-1] if summary else "")
        return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
