"""``preflight doctor`` from the command line: ``--format json`` exit codes (0 healthy, 1 problems,
2 usage) and ``--timeout`` bounding a registry that accepts connections and never answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .servers import OpenRegistry

ENV = {"PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Listening (the kernel completes the TCP handshake) and never answering."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _doctor(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "preflight", "doctor", "--engine", "off", *args]
    return subprocess.run(command, cwd=cwd, env={**ENV, "HOME": str(cwd)}, capture_output=True, text=True, timeout=60)


def _first_failure(data: dict[str, Any]) -> dict[str, Any]:
    return next(s for c in data["checks"] for s in c["steps"] if not s["ok"])


def test_json_exit_codes(registry: OpenRegistry, closed_port: int, tmp_path: Path) -> None:
    healthy = _doctor(["--format", "json", f"{registry.hostport}/library/python:3.12-slim"], tmp_path)
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["ok"] is True, healthy.stdout

    problem = _doctor(["--format", "json", f"127.0.0.1:{closed_port}/app:1"], tmp_path)
    assert problem.returncode == 1, problem.stderr
    data = json.loads(problem.stdout)
    assert data["ok"] is False and _first_failure(data)["cause"] == "firewall/refused"

    missing = _doctor(["--format", "json", f"{registry.hostport}/library/python:0.0-none"], tmp_path)
    assert missing.returncode == 1 and _first_failure(json.loads(missing.stdout))["cause"] == "not found"

    for usage in (["--format", "json", "Not A Reference"], ["--format", "json"], ["--format", "yaml", "x:1"]):
        result = _doctor(usage, tmp_path)
        assert result.returncode == 2 and result.stdout == "", (usage, result.stdout)


def test_timeout_bounds_a_registry_that_never_answers(silent_port: int, tmp_path: Path) -> None:
    result = _doctor(["--format", "json", "--timeout", "1", f"127.0.0.1:{silent_port}/app:1"], tmp_path)
    assert result.returncode == 1, result.stderr
    failed = _first_failure(json.loads(result.stdout))
    assert failed["name"] == "GET /v2/" and "within 1 s" in failed["detail"], failed
    assert failed["cause"] == "registry outage" and "--timeout" in failed["next"], failed
