#!/usr/bin/env python3
"""What asking the local engine adds to a run, against a budget of 30 ms plus 2 ms per reference.

Usage: python bench/engine_bench.py [--runs 15] [--sizes 1,10,100] [--instructions [--checkout DIR ...]]

Starts Distribution 2.8 and a real ``dockerd`` (tests/registry/dockerd.py: vfs, no bridge), pushes
the references to the registry and makes the engine hold half of them (``docker tag`` of one
imported image). Two figures per size:

* **step**: the engine step alone in a fresh process that has already imported what a run without
  an engine imports (the registry step's httpx): ``survey()`` timed once per process, so imports
  only the engine needs are counted (httpcore and h11: a run whose facts all come from the cache
  never imports them). Median over ``--runs`` processes.
* **shared**: the same with httpcore imported first, as in every run whose registry step sends a
  request: the engine's own cost. These two do not drown in the noise of whole-process timings.
* **end to end**: ``preflight check`` with the engine vs ``--engine off`` vs no engine at all, warm
  facts cache (the registry step sends nothing), alternating runs, medians; noisy on a loaded machine.

``--instructions``: instead, the instructions preflight's process executes for the engine step
(valgrind callgrind: the step's process minus the same process without ``survey()``), per
``--checkout`` (default this one): a before/after figure that does not depend on the machine's load.
The engine's own work (dockerd answering) is not in it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from registry.dockerd import Dockerd, start_dockerd
from registry.images import Pusher, build
from registry.servers import start_registry


def run(project: Path, env: dict[str, str], *args: str) -> float:
    cmd = [sys.executable, "-m", "preflight", "check", ".", "--format", "json", "--timeout", "60", *args]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"preflight failed ({done.returncode}):\n{done.stderr}")
    return wall


STEP = """
import sys, time
import preflight.registry.batch  # what a run without an engine imports anyway
if SHARED:
    import httpcore  # a run whose registry step sends a request imports it anyway
from preflight.localengine import survey
refs = sys.argv[1:]
started = time.perf_counter()
found = survey(refs, {"DOCKER_HOST": sys.argv[0]}, None, 5)
elapsed = time.perf_counter() - started
assert found.facts is not None and found.facts.answered and len(found.facts.images) == max(1, len(refs) // 2)
print(elapsed)
"""


def step_instructions(refs: list[str], engine: Dockerd, checkout: Path) -> float:
    """Instructions (callgrind) of ``survey()`` in a fresh process: with it minus without it."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "preflight")], check=True, env=env)
    code = STEP.replace("sys.argv[0]", repr(engine.host)).replace("SHARED", "False")
    code = code.replace(
        "from preflight.localengine import survey",
        "import preflight.localengine as le\nle.MAX_TIMEOUT = 600\nfrom preflight.localengine import survey",
    )
    code = code.replace("None, 5)", "None, 600)")
    counts = []
    baseline = "import sys, time\nimport preflight.registry.batch\n"  # what a run without an engine imports
    for script in (baseline, code):
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", script, *refs]
        done = subprocess.run(argv, env=env, cwd=checkout, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
        counts.append(int(found.group(1)))
    return counts[1] - counts[0]


def step_cost(refs: list[str], engine: Dockerd, runs: int, shared: bool) -> float:
    times = []
    code = STEP.replace("sys.argv[0]", repr(engine.host)).replace("SHARED", repr(shared))
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code, *refs],
            capture_output=True,
            text=True,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        times.append(float(done.stdout))
    return statistics.median(times)


def prepare(size: int, hostport: str, engine: Dockerd) -> list[str]:
    """``size`` references pushed to the registry, the first half of them held by the engine."""
    refs = [f"{hostport}/bench/engine{size}:t{i}" for i in range(size)]
    image = build(f"engine-bench-{size}", ("linux/amd64",))
    with Pusher(f"http://{hostport}") as pusher:
        for ref in refs:
            pusher.push_manifest(f"bench/engine{size}", ref.rsplit(":", 1)[1], image)
    engine.import_image(refs[0])
    for ref in refs[1 : size // 2]:
        engine.run(["tag", refs[0], ref])
    return refs


def measure(size: int, hostport: str, engine: Dockerd, work: Path, runs: int) -> tuple[float, float, float]:
    project = work / f"p{size}"
    project.mkdir()
    refs = prepare(size, hostport, engine)
    (project / "Dockerfile").write_text("".join(f"FROM {ref}\n" for ref in refs))
    env = engine.env(HOME=str(project), XDG_CACHE_HOME=str(project / "cache"), PYTHONPATH=str(ROOT))
    no_engine = {k: v for k, v in env.items() if k != "DOCKER_HOST"}
    run(project, env)  # warm the facts cache: the registry step sends nothing from now on
    with_engine, off, absent = [], [], []
    for _ in range(runs):
        with_engine.append(run(project, env))
        off.append(run(project, env, "--engine", "off"))
        absent.append(run(project, no_engine))
    cold, shared = step_cost(refs, engine, runs, False), step_cost(refs, engine, runs, True)
    return cold, shared, statistics.median(with_engine), statistics.median(off), statistics.median(absent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--instructions", action="store_true", help="callgrind instruction counts instead")
    parser.add_argument("--checkout", type=Path, action="append", help="with --instructions: a checkout (repeatable)")
    args = parser.parse_args()
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed")
    work = Path(tempfile.mkdtemp(prefix="pf-engine-bench-"))
    registry = start_registry(binary, work, work / "data", name="bench")
    engine = start_dockerd()
    try:
        if args.instructions:
            checkouts = [c.resolve() for c in args.checkout or [ROOT]]
            for size in (int(s) for s in args.sizes.split(",")):
                refs = prepare(size, registry.hostport, engine)
                for checkout in checkouts:
                    count = step_instructions(refs, engine, checkout)
                    print(f"{size:>5} refs  {count / 1e6:8.2f} M instructions  {checkout}", flush=True)
            return
        print(
            f"{'refs':>5}  {'step':>8}  {'shared':>8}  {'budget':>6}  | end to end: {'engine':>7}  {'off':>7}  {'none':>7}"
        )
        for size in (int(s) for s in args.sizes.split(",")):
            cold, shared, on, off, absent = measure(size, registry.hostport, engine, work, args.runs)
            budget = 30 + 2 * size
            print(
                f"{size:>5}  {cold * 1000:>6.1f}ms  {shared * 1000:>6.1f}ms  {budget:>4}ms"
                f"{'' if shared * 1000 <= budget else ' OVER'}  | "
                f"{on * 1000:>17.0f}ms  {off * 1000:>5.0f}ms  {absent * 1000:>5.0f}ms"
            )
    finally:
        engine.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"(medians of {args.runs} alternating runs per column; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
