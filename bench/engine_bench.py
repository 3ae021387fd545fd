#!/usr/bin/env python3
"""What asking the local engine adds to a run: ``preflight check`` with a real engine vs ``--engine off``.

Usage: python bench/engine_bench.py [--runs 15] [--sizes 1,10,100]

Starts Distribution 2.8 and a real ``dockerd`` (tests/registry/dockerd.py: vfs, no bridge), pushes
the references to the registry, makes the engine hold half of them (``docker tag`` of one imported
image) and warms preflight's facts cache, so the registry step sends no request and the difference
between the two runs is the engine's cost alone. Each run is its own ``python -m preflight check``
process; runs alternate (engine, off) and the medians are compared with the budget of 30 ms plus
2 ms per reference. A third series without any engine configured (nothing found) must cost nothing.
"""

from __future__ import annotations

import argparse
import os
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


def measure(size: int, hostport: str, engine: Dockerd, work: Path, runs: int) -> tuple[float, float, float]:
    project = work / f"p{size}"
    project.mkdir()
    refs = [f"{hostport}/bench/engine{size}:t{i}" for i in range(size)]
    image = build(f"engine-bench-{size}", ("linux/amd64",))
    with Pusher(f"http://{hostport}") as pusher:
        for ref in refs:
            pusher.push_manifest(f"bench/engine{size}", ref.rsplit(":", 1)[1], image)
    engine.import_image(refs[0])
    for ref in refs[1 : size // 2]:
        engine.run(["tag", refs[0], ref])
    (project / "Dockerfile").write_text("".join(f"FROM {ref}\n" for ref in refs))
    env = engine.env(HOME=str(project), XDG_CACHE_HOME=str(project / "cache"), PYTHONPATH=str(ROOT))
    no_engine = {k: v for k, v in env.items() if k != "DOCKER_HOST"}
    run(project, env)  # warm the facts cache: the registry step sends nothing from now on
    with_engine, off, absent = [], [], []
    for _ in range(runs):
        with_engine.append(run(project, env))
        off.append(run(project, env, "--engine", "off"))
        absent.append(run(project, no_engine))
    return statistics.median(with_engine), statistics.median(off), statistics.median(absent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed")
    work = Path(tempfile.mkdtemp(prefix="pf-engine-bench-"))
    registry = start_registry(binary, work, work / "data", name="bench")
    engine = start_dockerd()
    try:
        print(f"{'refs':>5}  {'engine':>9}  {'--engine off':>12}  {'no engine':>9}  {'added':>8}  {'budget':>8}")
        for size in (int(s) for s in args.sizes.split(",")):
            on, off, absent = measure(size, registry.hostport, engine, work, args.runs)
            added, budget = (on - off) * 1000, 30 + 2 * size
            print(
                f"{size:>5}  {on * 1000:>7.0f}ms  {off * 1000:>10.0f}ms  {absent * 1000:>7.0f}ms  "
                f"{added:>6.1f}ms  {budget:>6}ms{'' if added <= budget else '  OVER'}"
            )
    finally:
        engine.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"(medians of {args.runs} alternating runs per column; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
