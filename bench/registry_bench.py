#!/usr/bin/env python3
"""Registry step speed: 100 unique references in 300 files, real registry, 50 ms per request.

Usage: python bench/registry_bench.py [--latency 0.05] [--no-skopeo]

Starts Distribution 2.8 (``docker-registry``) on 127.0.0.1 with the test fixtures' helpers,
pushes 20 repositories x 4 tags, and puts the fault proxy (tests/registry/fault_proxy.py) in
front with ``latency`` seconds per request. The references: the 80 pushed tags plus 20 typos
(one per repository, so 20 tag listings). 300 Dockerfiles name them, two FROM lines each.

Measures, each as its own ``python -m preflight check`` process (the way users run it):
  1. cold run (``--no-cache``): wall time, HTTP requests (proxy count and report summary);
  2. the same with ``--platform linux/amd64`` (index/manifest GET + config blob);
  3. warm-cache rerun: requests must be 0; ``fix --pin --dry-run`` sends no request beyond ``check``'s;
  4. the lower bound: fewest sequential round trips at preflight's concurrency (4 per host):
     ceil(minimal requests / 4) x latency, minimal = one HEAD per reference + one listing per
     repository with a missing tag;
  5. a sequential ``skopeo inspect`` loop over the same references, if skopeo is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
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
PER_HOST = 4


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


def check(root: Path, *args: str) -> tuple[float, dict]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
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
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"preflight failed ({done.returncode}):\n{done.stderr}")
    return wall, json.loads(done.stdout)


def fix_pin(root: Path) -> tuple[float, int]:
    """``preflight fix src --pin --dry-run --no-cache``: wall time and the references it would pin."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "preflight", "fix", "src", "--pin", "--dry-run", "--no-cache"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--no-skopeo", action="store_true")
    opts = parser.parse_args()
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    refs = references()
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
            print(
                f"{len(refs)} unique references in {FILES} files, {opts.latency * 1000:.0f} ms per request, "
                f"{PER_HOST} concurrent requests per host"
            )
            # minimal requests: existence = 1 per reference (HEAD) + 1 listing per repository with a typo;
            # platforms = manifest GET + config blob GET per existing single-platform image, GET + listing per typo
            plans = (
                ("cold", ("--no-cache",), len(refs) + REPOS),
                ("cold --platform", ("--no-cache", "--platform", "linux/amd64"), 2 * len(refs)),
            )
            for label, args, minimal in plans:
                bound = math.ceil(minimal / PER_HOST) * opts.latency
                before = proxy.requests
                wall, report = check(root, *args)
                sent = proxy.requests - before
                s = report["summary"]
                print(
                    f"{label:16s} wall {wall:6.2f} s  requests {sent:4d} (report {s['requests']}, minimal {minimal})  "
                    f"{sent / len(refs):.2f}/reference  lower bound {bound:.2f} s, ratio {wall / bound:3.1f}x  "
                    f"findings {len(report['findings'])}"
                )
            before = proxy.requests
            wall, report = check(root, "--no-cache")
            check_requests = proxy.requests - before
            before = proxy.requests
            wall_fix, pinned = fix_pin(root)
            print(
                f"{'fix --pin':16s} wall {wall_fix:6.2f} s  requests {proxy.requests - before:4d} "
                f"(check: {check_requests}, {wall:.2f} s)  references pinned {pinned}"
            )
            check(root)  # fill the cache
            before = proxy.requests
            wall, report = check(root)
            print(
                f"{'warm cache':16s} wall {wall:6.2f} s  requests {proxy.requests - before:4d} "
                f"(report {report['summary']['requests']}, cache hits {report['summary']['cache_hits']})"
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
                f"{failures} failed as expected for the typos; through a byte relay with the same latency)"
            )
        finally:
            proxy.stop()
            registry.stop()


if __name__ == "__main__":
    main()
