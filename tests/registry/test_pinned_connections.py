"""Connections go to the address the guard approved: one DNS answer per name per run (issue 8,
DNS rebinding), the name kept for TLS (SNI, certificate check) and ``Host``; HTTP/2 over TLS.

The system resolver (``socket.getaddrinfo``) is replaced by a stub that answers a loopback address
first and another address second, so a second lookup (httpx's own, at connect time) would be seen:
a recording server listens on 127.0.0.2 at the registry's port, and 169.254.169.254 would time out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight.config import Config, RegistryConfig
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings, resolve

from .httpthread import Listener
from .test_e2e_registry import by_line, run_check

REAL_GETADDRINFO = socket.getaddrinfo


class Rebinding:
    """``socket.getaddrinfo`` for one name: ``answers[0]`` first, ``answers[1]`` on every later call."""

    def __init__(self, name: str, answers: tuple[str, str]) -> None:
        self.name, self.answers, self.calls = name, answers, 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host != self.name:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        address = self.answers[min(self.calls, 1)]
        self.calls += 1
        return REAL_GETADDRINFO(address, port, *args, **kwargs)


class Recorder(Listener):
    """Accepts and counts connections on ``address:port`` (the place a second answer would lead)."""

    def handle(self, conn: socket.socket) -> None:
        conn.close()

    @property
    def accepted(self) -> int:
        return self.connections


@pytest.fixture
def recorder(registry) -> Iterator[Recorder]:  # type: ignore[no-untyped-def]
    rec = Recorder("127.0.0.2", registry.port)
    try:
        yield rec
    finally:
        rec.stop()


def _lookup(name: str, port: int, tmp: Path, scheme: str = "http", **registry: Any) -> Any:
    host = f"{name}:{port}"
    config = Config(
        registries={host: RegistryConfig(endpoint=f"{scheme}://{host}", **registry)},
        timeout=8,
        daemon_json=str(tmp / "none.json"),
    )
    settings = Settings(config, {"HOME": str(tmp), "DOCKER_CONFIG": str(tmp), "NO_PROXY": "*"}, use_cache=False)
    res = resolve([Lookup(ImageRef.parse(f"{host}/library/python:3.12-slim"))], settings)
    return next(iter(res.facts.values()))


@pytest.mark.parametrize("second", ["127.0.0.2", "169.254.169.254"])
def test_the_connection_goes_to_the_approved_address_never_a_second_answer(
    registry,
    recorder: Recorder,
    second: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    stub = Rebinding("rebind.test", ("127.0.0.1", second))
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    facts = _lookup("rebind.test", registry.port, tmp_path)
    assert facts.status is Status.OK, facts.detail
    assert stub.calls == 1  # resolved once: the guard's answer is the one connected to
    assert recorder.accepted == 0  # nothing reached the second answer


def test_a_rebinding_name_is_still_judged_by_the_guard(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The answer connected to is the one judged: metadata first is refused, not re-resolved."""
    stub = Rebinding("rebind.test", ("169.254.169.254", "127.0.0.1"))
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    facts = _lookup("rebind.test", registry.port, tmp_path)
    assert facts.status is Status.BLOCKED_BY_POLICY and "169.254.169.254" in facts.detail
    assert stub.calls == 1


def test_tls_checks_the_name_not_the_pinned_address(tls_registry, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The certificate is for 127.0.0.1 and localhost. Pinned to 127.0.0.1, the name "localhost"
    verifies; the name "rebind.test" must not, although the address it connects to is in the
    certificate (SNI and the hostname check use the name)."""
    ca = {"ca_file": str(tls_registry.ca_path)}
    good = Rebinding("localhost", ("127.0.0.1", "127.0.0.2"))
    monkeypatch.setattr(socket, "getaddrinfo", good)
    facts = _lookup("localhost", tls_registry.port, tmp_path, "https", **ca)
    assert facts.status is Status.OK, facts.detail
    assert good.calls == 1
    wrong = Rebinding("rebind.test", ("127.0.0.1", "127.0.0.1"))
    monkeypatch.setattr(socket, "getaddrinfo", wrong)
    facts = _lookup("rebind.test", tls_registry.port, tmp_path, "https", **ca)
    assert facts.status is Status.TLS and "not trusted" in facts.detail


def _require_h2() -> None:
    """httpx[http2] is a dependency: an environment installed before it was added lacks ``h2``."""
    try:
        import h2  # noqa: F401
    except ImportError:
        message = "h2 is not installed (a dependency via httpx[http2]): pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_http2_is_negotiated_with_a_tls_registry(tls_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Distribution over TLS offers h2 (ALPN); every lookup of the run then shares one connection."""
    _require_h2()
    r = tls_registry.hostport
    dockerfile = "".join(f"FROM {r}/library/python:{tag}\n" for tag in ("3.12-slim", "3.11", "3.12-slimm"))
    config = {"registries": {r: {"ca-file": str(tls_registry.ca_path)}}}
    code, report, stderr = run_check(tmp_path, dockerfile, config, "--strict-loopback", "--debug")
    assert code == 1 and [rule for rule, _ in by_line(report)[3]] == ["PF201"]
    answered = [line for line in stderr.splitlines() if " -> 2" in line or " -> 4" in line]
    assert answered and all("HTTP/2" in line for line in answered), stderr
    assert stderr.count("connected to ") == 1, stderr  # one connection carried every request


def test_plain_http_registries_keep_http_1_1(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, stderr = run_check(tmp_path, f"FROM {registry.hostport}/library/python:3.12-slim\n", None, "--debug")
    assert code == 0
    assert "HTTP/1.1" in stderr and "HTTP/2" not in stderr


def test_offline_import_stays_free_of_network_code(tmp_path: Path) -> None:
    probe = "import preflight.registry.guard, sys; print(sorted(m for m in sys.modules if m.startswith('httpcore')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_connections_are_reused_after_head_requests(registry, proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A HEAD answer is read to its end, so its connection serves the next request (before: a new
    connection for nearly every request). One HEAD per existing tag, no GET."""
    p = proxy.hostport
    tags = ("3.12-slim", "3.11", "3.12")
    dockerfile = "".join(f"FROM {p}/library/python:{tag}\n" for tag in tags * 2)
    code, report, stderr = run_check(tmp_path, dockerfile, None, "--concurrency", "1")
    assert code == 0, stderr
    assert proxy.connections == 1
    assert sorted(proxy.request_lines) == sorted(f"HEAD /v2/library/python/manifests/{tag} HTTP/1.1" for tag in tags)


def test_a_missing_tag_asks_twice_on_one_connection(registry, proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, report, stderr = run_check(tmp_path, f"FROM {proxy.hostport}/library/python:3.12-slimm\n")
    assert code == 1 and [rule for rule, _ in by_line(report)[1]] == ["PF201"], stderr
    assert [line.split("?")[0] for line in proxy.request_lines] == [
        "HEAD /v2/library/python/manifests/3.12-slimm HTTP/1.1",
        "GET /v2/library/python/tags/list",
    ]
    assert proxy.connections == 1  # before: the HEAD's connection was dropped and a second one opened


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_token_flows_finish_when_slots_are_scarce(
    token_registry, token_server, tmp_path: Path, concurrency: str
) -> None:  # type: ignore[no-untyped-def]
    """A request's per-host slot is held until its answer is read: 401s awaiting a shared token
    must not starve the requests that follow it."""
    r = token_registry.hostport
    tags = ("3.12-slim", "3.11", "3.12", "3.12-slimm")
    dockerfile = "".join(f"FROM {r}/library/python:{tag}\n" for tag in tags)
    code, report, stderr = run_check(tmp_path, dockerfile, {"timeout": 20}, "--concurrency", concurrency)
    assert code == 1, stderr
    assert by_line(report) == {4: [("PF201", by_line(report)[4][0][1])]}
    assert report["summary"]["not_checked"] == 0
