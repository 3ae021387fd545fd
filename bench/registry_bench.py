#!/usr/bin/env python3
"""Registry step speed: 100 unique references in 300 files, real registry, 50 ms per request.

Usage: python bench/registry_bench.py [--latency 0.05] [--no-skopeo] [--pindock PATH] [--concurrency N]
                                     [--python PATH] [--repeat N]

``--python``: the interpreter that runs preflight (this checkout's code on PYTHONPATH, that
interpreter's packages): give a clean virtualenv's (``python3 -m venv v && v/bin/pip install .``)
to measure what users install, without this machine's extra site-packages (trio, pygments, rich:
httpx and httpcore import them when present). ``--repeat N``: each preflight run N times, median
shown (wall and CPU, user + system, of the preflight process).

Starts Distribution 2.8 (``docker-registry``) on 127.0.0.1 with the test fixtures' helpers,
pushes 20 repositories x 4 tags, and puts the fault proxy (tests/registry/fault_proxy.py) in
front with ``latency`` seconds per request. The references: the 80 pushed tags plus 20 typos
(one per repository, so 20 tag listings). 300 Dockerfiles name them, two FROM lines each.

Measures, in one run (each tool as its own process, the way users run it):
  1. preflight cold (``--no-cache``): wall time, HTTP requests (proxy count and report summary);
  2. the same with ``--platform linux/amd64`` (manifest GET + config blob);
  3. ``fix --pin --dry-run`` sends no request beyond ``check``'s; preflight warm-cache rerun:
     requests must be 0 (its wall time is preflight's own floor: start-up, 300 files, the cache);
  4. the lower bound, whatever the concurrency: the longest chain of requests that wait for each
     other, times the latency. A reference costs one round trip (HEAD, or GET with platforms), and
     the request that depends on its answer one more (the repository's tag listing after a 404, or
     the config blob): two round trips, 0.10 s at 50 ms. Every other request can run beside them;
  5. pindock (``pindock run``, PyPI ``pindock``, a Go binary that pins digests) over the same files
     with the registry written as 127.0.0.1:<proxy port>, if installed (``--pindock`` or PATH);
  6. a sequential ``skopeo inspect`` loop over the same references, if skopeo is installed.
Ratios: preflight cold to the lower bound, to pindock and to skopeo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from registry.fault_proxy import FaultProxy
from registry.images import Pusher, build
from registry.servers import start_registry

REPOS = 20
TAGS = ("v1", "v2", "v3", "v4")
FILES = 300
HOST = "bench.example"
CHAIN = 2  # requests that must wait for each other: manifest, then tag listing (or config blob)


def references() -> list[str]:
    refs = [f"{HOST}/bench/svc{r:02d}:{t}" for r in range(REPOS) for t in TAGS]
    refs += [f"{HOST}/bench/svc{r:02d}:v5x" for r in range(REPOS)]  # typos: tag missing
    return refs


def write_files(root: Path, refs: list[str], proxy_url: str) -> None:
    for i in range(FILES):
        d = root / "src" / f"svc{i:03d}"
        d.mkdir(parents=True)
        a, b = refs[i % len(refs)], refs[(i * 7 + 3) % len(refs)]
        (d / "Dockerfile").write_text(f"FROM {a} AS build\nFROM {b}\n")
    (root / ".preflight.yaml").write_text(json.dumps({"registries": {HOST: {"endpoint": proxy_url}}}))


PYTHON = sys.executable


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(root: Path, *args: str) -> tuple[float, dict, float]:
    """One ``preflight check`` process: (wall, JSON report, CPU seconds)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        PYTHON,
        "-m",
        "preflight",
        "check",
        "src",
        "--format",
        "json",
        "--config",
        ".preflight.yaml",
        "--timeout",
        "120",
        *args,
    ]
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"preflight failed ({done.returncode}):\n{done.stderr}")
    return wall, json.loads(done.stdout), _cpu() - cpu


def repeated(root: Path, n: int, *args: str) -> tuple[float, dict, float]:
    """``check`` n times: median wall, the last report, median CPU."""
    runs = [check(root, *args) for _ in range(n)]
    return statistics.median(r[0] for r in runs), runs[-1][1], statistics.median(r[2] for r in runs)


def fix_pin(root: Path) -> tuple[float, int]:
    """``preflight fix src --pin --dry-run --no-cache``: wall time and the references it would pin."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [PYTHON, "-m", "preflight", "fix", "src", "--pin", "--dry-run", "--no-cache"]
    cmd += ["--config", ".preflight.yaml", "--timeout", "120"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"preflight fix failed ({done.returncode}):\n{done.stderr}")
    return wall, sum(1 for line in done.stderr.splitlines() if ": would pin: " in line)


class LatencyRelay:
    """A byte relay adding ``latency`` before each client chunk, for skopeo.

    The fault proxy parses HTTP requests, so the TLS ClientHello that skopeo sends first (it tries
    HTTPS before falling back to plain HTTP) would hang there until skopeo's 10 s timeout; this relay
    passes it through, the registry rejects it at once, and skopeo falls back as it would in real life.
    """

    def __init__(self, upstream_port: int, latency: float) -> None:
        self.upstream_port, self.latency, self.port = upstream_port, latency, 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
            try:
                while chunk := await src.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    dst.write(chunk)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, self.latency), pipe(up_reader, writer, 0.0))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def skopeo_loop(refs: list[str], hostport: str) -> tuple[float, int]:
    failures = 0
    started = time.perf_counter()
    for ref in refs:
        target = "docker://" + ref.replace(HOST, hostport, 1)
        done = subprocess.run(["skopeo", "inspect", "--tls-verify=false", target], capture_output=True, text=True)
        failures += done.returncode != 0
    return time.perf_counter() - started, failures


def pindock_run(binary: str, root: Path, refs: list[str], hostport: str) -> tuple[float, int, str]:
    """``pindock run`` over a copy of the 300 files naming the registry as ``hostport``; (wall, exit, tail)."""
    tree = root / "pindock"
    if tree.exists():
        shutil.rmtree(tree)
    for i in range(FILES):
        d = tree / f"svc{i:03d}"
        d.mkdir(parents=True)
        a, b = refs[i % len(refs)], refs[(i * 7 + 3) % len(refs)]
        a, b = a.replace(HOST, hostport, 1), b.replace(HOST, hostport, 1)
        (d / "Dockerfile").write_text(f"FROM {a} AS build\nFROM {b}\n")
    started = time.perf_counter()
    done = subprocess.run([binary, "run", "-C", str(tree)], capture_output=True, text=True, env={"HOME": str(root)})
    wall = time.perf_counter() - started
    pinned = sum("@sha256:" in (p / "Dockerfile").read_text() for p in tree.iterdir())
    return wall, done.returncode, f"{pinned} of {FILES} files pinned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--no-skopeo", action="store_true")
    parser.add_argument("--pindock", default=shutil.which("pindock"), help="pindock binary (default: from PATH)")
    parser.add_argument("--concurrency", type=int, help="preflight --concurrency (default: preflight's own)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs preflight (a clean venv's)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each preflight measurement (median shown)")
    opts = parser.parse_args()
    global PYTHON
    PYTHON = opts.python
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    refs = references()
    extra = ("--concurrency", str(opts.concurrency)) if opts.concurrency else ()
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        root = Path(tmp)
        registry = start_registry(binary, root / "work", root / "data", name="bench")
        proxy = FaultProxy("127.0.0.1", registry.port).start()
        try:
            with Pusher(f"http://127.0.0.1:{registry.port}") as pusher:
                for r in range(REPOS):
                    for tag in TAGS:
                        pusher.push_manifest(f"bench/svc{r:02d}", tag, build(f"bench/svc{r:02d}:{tag}"))
            write_files(root, refs, f"http://127.0.0.1:{proxy.port}")
            proxy.latency = opts.latency
            bound = CHAIN * opts.latency
            print(
                f"{len(refs)} unique references in {FILES} files, {opts.latency * 1000:.0f} ms per request, "
                f"preflight concurrency per host: {opts.concurrency or 'default'}; lower bound {bound:.2f} s "
                f"({CHAIN} round trips: a manifest request, then the tag listing or config blob that waits for it); "
                f"preflight runs on {opts.python}, medians of {opts.repeat}"
            )
            # minimal requests: existence = 1 per reference (HEAD) + 1 listing per repository with a typo;
            # platforms = manifest GET + config blob GET per existing single-platform image, GET + listing per typo
            plans = (
                ("cold", ("--no-cache", *extra), len(refs) + REPOS),
                ("cold --platform", ("--no-cache", "--platform", "linux/amd64", *extra), 2 * len(refs)),
            )
            cold = 0.0
            for label, args, minimal in plans:
                before = proxy.requests
                wall, report, cpu = repeated(root, opts.repeat, *args)
                cold = cold or wall
                sent = (proxy.requests - before) // opts.repeat
                s = report["summary"]
                print(
                    f"{label:16s} wall {wall:6.2f} s  CPU {cpu:5.2f} s  requests {sent:4d} (report {s['requests']}, "
                    f"minimal {minimal})  "
                    f"{sent / len(refs):.2f}/reference  {wall / bound:4.1f}x the lower bound  "
                    f"findings {len(report['findings'])}"
                )
            before = proxy.requests
            wall, report, _ = check(root, "--no-cache", *extra)
            check_requests = proxy.requests - before
            before = proxy.requests
            wall_fix, pinned = fix_pin(root)
            print(
                f"{'fix --pin':16s} wall {wall_fix:6.2f} s  requests {proxy.requests - before:4d} "
                f"(check: {check_requests}, {wall:.2f} s)  references pinned {pinned}"
            )
            check(root, *extra)  # fill the cache
            before = proxy.requests
            wall, report, cpu = repeated(root, opts.repeat, *extra)
            print(
                f"{'warm cache':16s} wall {wall:6.2f} s  CPU {cpu:5.2f} s  requests {proxy.requests - before:4d} "
                f"(report {report['summary']['requests']}, cache hits {report['summary']['cache_hits']}): "
                "preflight's floor without the network"
            )

            if not opts.pindock:
                print("pindock: not installed (pip install pindock, or --pindock PATH); skipped")
            else:
                before = proxy.requests
                wall, code, pinned = pindock_run(opts.pindock, root, refs, f"127.0.0.1:{proxy.port}")
                print(
                    f"{'pindock run':16s} wall {wall:6.2f} s  requests {proxy.requests - before:4d}  exit {code}, "
                    f"{pinned}; preflight cold is {cold / wall:.2f}x its time (target <= 0.33x)"
                )

            if opts.no_skopeo:
                return
            if shutil.which("skopeo") is None:
                print("skopeo: not installed (apt-get install skopeo); skipped")
                return
            relay = LatencyRelay(registry.port, opts.latency)
            try:
                wall, failures = skopeo_loop(refs, f"127.0.0.1:{relay.port}")
            finally:
                relay.stop()
            print(
                f"{'skopeo loop':16s} wall {wall:6.2f} s  ({wall / len(refs) * 1000:.0f} ms/reference, sequential, "
                f"{failures} failed as expected for the typos; through a byte relay with the same latency); "
                f"preflight cold is {cold / wall:.3f}x its time"
            )
        finally:
            proxy.stop()
            registry.stop()


if __name__ == "__main__":
    main()
