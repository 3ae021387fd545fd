"""Real registries for preflight's registry tests (docs/test-registry.md).

Session: ``registry`` (open, populated), ``basic_registry``, ``token_server_session`` + ``token_registry``,
``tls_registry``; all share one storage root; ``docker_engine`` (a real dockerd). Function: ``token_server`` (the session server, reset
before and after each test), ``proxy`` / ``make_proxy`` (faults), ``shim`` / ``make_shim`` (HTTP
mangling), ``scratch_repo`` (a fresh repository name for tests that push or delete).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
import trustme

from .dockerd import Dockerd, DockerdStartError, start_dockerd
from .fault_proxy import FaultProxy
from .images import push_fixture_set
from .servers import (
    INSTALL_HINT,
    BasicRegistry,
    OpenRegistry,
    TLSRegistry,
    TokenRegistry,
    htpasswd_auth,
    start_registry,
    token_auth,
)
from .shim import Shim
from .token_server import TokenServer


@pytest.fixture(scope="session", autouse=True)
def registry_bin() -> str:
    """Path of ``docker-registry``; missing: fail when ``CI`` is set, else skip."""
    binary = shutil.which("docker-registry")
    if binary is None:
        message = f"docker-registry (Distribution 2.8) is not installed; install it with: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(autouse=True)
def _loopback_bypasses_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables would route 127.0.0.1 through a proxy (docs/test-registry.md section 11)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Configs, logs, htpasswd, certificates."""
    return tmp_path_factory.mktemp("registry-work")


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The storage root every registry process shares."""
    return tmp_path_factory.mktemp("registry-data")


@pytest.fixture(scope="session")
def registry(registry_bin: str, registry_workdir: Path, registry_root: Path) -> Iterator[OpenRegistry]:
    process = start_registry(registry_bin, registry_workdir, registry_root, name="open")
    try:
        pushed = push_fixture_set(process.url)
        yield OpenRegistry(
            process.url,
            process.hostport,
            process.port,
            pushed.digests,
            pushed.children,
            pushed.manifests,
            process.log_path,
            registry_root,
            process,
        )
    finally:
        process.stop()


@pytest.fixture(scope="session")
def basic_registry(registry: OpenRegistry, registry_bin: str, registry_workdir: Path) -> Iterator[BasicRegistry]:
    process = start_registry(
        registry_bin, registry_workdir, registry.root, name="basic", auth=htpasswd_auth(registry_workdir)
    )
    try:
        yield BasicRegistry(process.url, process.hostport, process.port, process.log_path)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def token_server_session(registry_workdir: Path) -> Iterator[TokenServer]:
    server = TokenServer(registry_workdir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def token_server(token_server_session: TokenServer) -> Iterator[TokenServer]:
    """The session token server with knobs and recorded requests reset before and after the test."""
    token_server_session.reset()
    yield token_server_session
    token_server_session.reset()


@pytest.fixture(scope="session")
def token_registry(
    registry: OpenRegistry, registry_bin: str, registry_workdir: Path, token_server_session: TokenServer
) -> Iterator[TokenRegistry]:
    server = token_server_session
    auth = token_auth(server.realm, server.service, server.issuer, server.certificate_path)
    process = start_registry(registry_bin, registry_workdir, registry.root, name="token", auth=auth)
    try:
        yield TokenRegistry(
            process.url, process.hostport, process.port, server.realm, server.service, server.issuer, process.log_path
        )
    finally:
        process.stop()


@pytest.fixture(scope="session")
def tls_registry(registry: OpenRegistry, registry_bin: str, registry_workdir: Path) -> Iterator[TLSRegistry]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = registry_workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert_path, key_path = registry_workdir / "server.crt", registry_workdir / "server.key"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_path))
    context = ssl.create_default_context(cafile=str(ca_path))
    process = start_registry(
        registry_bin,
        registry_workdir,
        registry.root,
        name="tls",
        tls={"certificate": str(cert_path), "key": str(key_path)},
        ready_context=context,
    )
    try:
        yield TLSRegistry(process.url, process.hostport, process.port, ca_path, context, process.log_path)
    finally:
        process.stop()


def _split_hostport(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def _started_until_teardown(start: Callable[[tuple[str, int]], S]) -> Iterator[Callable[[str], S]]:
    """Yield ``make(hostport)`` that starts a server in front of hostport; stop them all afterwards."""
    started: list[S] = []

    def make(hostport: str) -> S:
        started.append(start(_split_hostport(hostport)))
        return started[-1]

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def make_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Factory: ``make_proxy("127.0.0.1:PORT")`` starts a FaultProxy in front of any plain-HTTP server."""
    yield from _started_until_teardown(lambda upstream: FaultProxy(*upstream).start())


@pytest.fixture
def proxy(registry: OpenRegistry, make_proxy: Callable[[str], FaultProxy]) -> FaultProxy:
    """A FaultProxy in front of the open registry."""
    return make_proxy(registry.hostport)


@pytest.fixture
def make_shim(registry: OpenRegistry) -> Iterator[Callable[[str], Shim]]:
    """Factory: ``make_shim("127.0.0.1:PORT")``; its redirect sidecar forwards to the open registry."""
    yield from _started_until_teardown(lambda upstream: Shim(upstream, ("127.0.0.1", registry.port)).start())


@pytest.fixture
def shim(registry: OpenRegistry, make_shim: Callable[[str], Shim]) -> Shim:
    """A Shim in front of the open registry."""
    return make_shim(registry.hostport)


_scratch_counter = itertools.count(1)


@pytest.fixture
def scratch_repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses (``scratch/<test>-<n>``): push/delete there, not on shared tags."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] or "test"
    return f"scratch/{slug}-{next(_scratch_counter)}"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Dockerd]:
    """A real Docker Engine (dockerd) of its own; cannot start: fail when ``CI`` is set, else skip."""
    try:
        engine = start_dockerd()
    except DockerdStartError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
