"""``preflight doctor`` in a job with ``PREFLIGHT_UNTRUSTED`` set (the ``pull_request_target``
template sets it for the whole job): doctor reads the project's compose files with the process
environment and the project's configuration (endpoints, CA, insecure), so it does not run there.

Before: ``image: 127.0.0.1:P/x:${CI_SECRET_TOKEN}`` made doctor print the secret and send it to
that registry; a project ``.preflight.yaml`` endpoint would have received the user's credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .httpthread import BackgroundHTTPServer, QuietHandler

SECRET = "topsecret-4b1d9c"
ROOT = Path(__file__).resolve().parents[2]


class Recorder(QuietHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send(200, b"{}", [("Content-Type", "application/json")])

    do_HEAD = do_GET


@pytest.fixture
def server() -> Iterator[BackgroundHTTPServer]:
    handler = type("Handler", (Recorder,), {"seen": []})
    running = BackgroundHTTPServer(handler, "doctor-recorder").start()
    try:
        yield running
    finally:
        running.stop()


def doctor(work: Path, *args: str, untrusted: str = "1") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work.parent),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "NO_PROXY": "127.0.0.1",
        "CI_SECRET_TOKEN": SECRET,
        "PREFLIGHT_UNTRUSTED": untrusted,
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "preflight", "doctor", "--timeout", "3", *args]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("named", [False, True], ids=["project", "named-image"])
def test_doctor_does_not_run_untrusted(tmp_path: Path, server: BackgroundHTTPServer, named: bool) -> None:
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    (work / "compose.yaml").write_text(f"services:\n  a:\n    image: {server.hostport}/x:${{CI_SECRET_TOKEN}}\n")
    (work / ".preflight.yaml").write_text(f"registries:\n  ghcr.io:\n    endpoint: {server.url}\n")
    done = doctor(work, *(["ghcr.io/org/app:1.0"] if named else []))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PREFLIGHT_UNTRUSTED" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert server.RequestHandlerClass.seen == []  # type: ignore[attr-defined]


def test_doctor_runs_when_trusted(tmp_path: Path, server: BackgroundHTTPServer) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = doctor(work, f"{server.hostport}/x:1.0", untrusted="0")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert server.RequestHandlerClass.seen  # type: ignore[attr-defined]
