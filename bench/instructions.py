#!/usr/bin/env python3
"""Instructions executed by an offline run, counted by valgrind (callgrind): a speed figure that does
not depend on what else the machine is doing, for before/after comparisons of a change.

Usage: python bench/instructions.py [--checkout DIR ...] [--corpus DIR]

For each checkout (default: this one), runs ``python -m preflight check --offline --format json``
with that checkout first on ``PYTHONPATH`` under ``valgrind --tool=callgrind`` twice: over the whole
corpus (one process) and over one Dockerfile, and prints the instruction counts (``Ir``). Wall-clock
figures stay in offline_bench.py; this one is for comparing two versions of the code on a busy machine
(the same interpreter, inputs and environment give the same count within a fraction of a percent).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def instructions(checkout: Path, cwd: Path, paths: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(checkout)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "preflight")], check=True, env=env)
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    argv += [sys.executable, "-m", "preflight", "check", "--offline", "--format", "json", *paths]
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind gave no count for {checkout}: {done.stderr[-800:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, action="append", help="a preflight checkout (repeatable)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    corpus = args.corpus.resolve()
    one = next(p for p in sorted(corpus.rglob("Dockerfile")) if p.is_file())
    for checkout in args.checkout or [ROOT]:
        whole = instructions(checkout.resolve(), corpus, ["."])
        single = instructions(checkout.resolve(), one.parent, [one.name])
        print(f"{checkout}: whole corpus {whole / 1e9:.3f} G instructions; one Dockerfile {single / 1e6:.0f} M")


if __name__ == "__main__":
    main()
