"""Connections on asyncio's own streams (registry/aiostream.py) against hostile and broken servers,
and two planning corners: a refused host the cache answered, a directory reached through a symlink.
Each test failed on the code before its fix (a review of the asyncio-stream and warm-path changes)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from preflight.config import Config, RegistryConfig
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings, resolve

from .httpthread import Listener


class TLSListener(Listener):
    """A ``Listener`` with a certificate from a throwaway CA (``ca``) in ``context``."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(self.context)
        super().__init__()


class TLSResetAfterRequest(TLSListener):
    """Completes the handshake, reads the HTTP request, then resets the connection (SO_LINGER 0):
    what a TLS 1.3 registry that rejects the client certificate after the handshake looks like when
    its alert is lost to the reset."""

    handshakes = 0

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(3)
        tls = self.context.wrap_socket(conn, server_side=True)
        self.handshakes += 1
        tls.recv(65536)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()


@pytest.fixture
def resetting(tmp_path: Path) -> Iterator[tuple[TLSResetAfterRequest, Path]]:
    server = TLSResetAfterRequest()
    ca_path = tmp_path / "ca.pem"
    server.ca.cert_pem.write_to_path(str(ca_path))
    try:
        yield server, ca_path
    finally:
        server.stop()


def _lookup_https(host: str, tmp: Path, ca_path: Path, environ: dict[str, str] | None = None) -> Any:
    config = Config(
        registries={host: RegistryConfig(endpoint=f"https://{host}", ca_file=str(ca_path))},
        timeout=8,
        daemon_json=str(tmp / "none.json"),
    )
    env = {"HOME": str(tmp), "DOCKER_CONFIG": str(tmp), "NO_PROXY": "*", **(environ or {})}
    settings = Settings(config, env, use_cache=False)
    res = resolve([Lookup(ImageRef.parse(f"{host}/library/python:3.12-slim"))], settings)
    return next(iter(res.facts.values()))


def test_a_reset_inside_tls_is_still_named_as_tls(resetting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """network.diagnose names a reset after the TLS handshake as TLS (the lost client-certificate
    alert of TLS 1.3): aiostream marks failures inside TLS (httpcore re-raises them ``from None``)."""
    server, ca_path = resetting
    facts = _lookup_https(f"localhost:{server.port}", tmp_path, ca_path)
    assert server.handshakes >= 1
    assert facts.status is Status.TLS, (facts.status, facts.detail)
    assert "closed the TLS connection without an HTTP answer" in facts.detail, facts.detail


class ConnectProxy(Listener):
    """A minimal HTTP CONNECT proxy on 127.0.0.1 (tunnels to 127.0.0.1 at the asked port)."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        self._tunnel(conn)

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self.tunnels.append(target)
        upstream = socket.create_connection(("127.0.0.1", int(target.rsplit(":", 1)[1])))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)


def test_a_tls_registry_through_a_connect_proxy(tls_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """HTTPS_PROXY=http://...: CONNECT to the proxy, then TLS inside the tunnel (start_tls on our stream)."""
    proxy = ConnectProxy()
    try:
        env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": ""}
        facts = _lookup_https(f"localhost:{tls_registry.port}", tmp_path, tls_registry.ca_path, env)
    finally:
        proxy.stop()
    assert facts.status is Status.OK, (facts.status, facts.detail)
    assert proxy.tunnels and all(t == f"localhost:{tls_registry.port}" for t in proxy.tunnels)


class SilentTLS(TLSListener):
    """Completes TLS handshakes, then neither reads nor closes (never answers close_notify)."""

    def handle(self, conn: socket.socket) -> None:
        self.held.append(self.context.wrap_socket(conn, server_side=True))


def test_aclose_releases_the_socket_even_when_the_server_ignores_close_notify() -> None:
    """httpcore's anyio stream closed the socket at once (TLS with standard_compatible=False, then
    transport.abort()); asyncio's SSL transport.close() waits up to 30 s (ssl_shutdown_timeout) for
    the peer's close_notify, keeping the file descriptor open that long for every closed connection."""
    from preflight.registry import aiostream

    server = SilentTLS()
    ctx = ssl.create_default_context()
    server.ca.configure_trust(ctx)

    async def main() -> int:
        stream = await aiostream.connect_tcp("127.0.0.1", server.port, 5)
        sock = stream.writer.get_extra_info("socket")
        await stream.start_tls(ctx, "localhost", 5)
        await stream.aclose()
        await asyncio.sleep(0.5)
        return sock.fileno()

    try:
        fileno = asyncio.run(main())
    finally:
        server.stop()
    assert fileno == -1, "the socket is still open 0.5 s after aclose()"


class StrayBytesOnIdle(Listener):
    """Plain HTTP/1.1: every connection's first request gets "first" (keep-alive); 0.2 s later the
    server writes a stray response ("stray") on the now idle connection and keeps it open. A client
    that sees the idle connection is readable opens a new one, whose first answer is "first" again."""

    def handle(self, conn: socket.socket) -> None:
        self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            self.stopped.wait(0.2)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
            self.stopped.wait(5)
        except OSError:
            pass
        finally:
            conn.close()


def test_bytes_on_an_idle_connection_retire_it() -> None:
    """httpcore asks ``is_readable`` of an idle HTTP/1.1 connection before reusing it: data waiting
    there means the server closed it or sent something no request asked for. asyncio's transport
    reads eagerly into the StreamReader, so the socket poll sees nothing and the stray answer is
    taken as the answer to the next request."""
    import httpx

    from preflight.registry.guard import ResolveOnce
    from preflight.registry.pool import PinnedBackend, pinned_transport

    server = StrayBytesOnIdle()

    async def main() -> tuple[str, str]:
        transport = pinned_transport(False, None, PinnedBackend(ResolveOnce()), 1)
        async with httpx.AsyncClient(transport=transport) as client:
            first = await client.get(f"http://127.0.0.1:{server.port}/v2/")
            await asyncio.sleep(0.5)
            second = await client.get(f"http://127.0.0.1:{server.port}/v2/")
            return first.text, second.text

    try:
        first, second = asyncio.run(main())
    finally:
        server.stop()
    assert (first, second) == ("first", "first"), (first, second, server.connections)


def test_a_refused_host_answered_from_the_cache_does_not_end_the_run(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A host httpx refuses leaves ``Plan.endpoints`` even when the cache answered all of its
    references: another host's lookup still goes out, and ``batch._transport`` parses every endpoint
    left there (the InvalidURL ended the whole run); the cached answer stands."""
    from preflight.config import Config
    from preflight.facts import ImageFacts
    from preflight.registry import cache as cache_module
    from preflight.registry import plan as plan_module

    refused = "0251.0376.0251.0376:80/a:1"
    monkeypatch.setattr(plan_module, "cache_key", lambda reference, *a, **k: reference)
    stored = {ImageRef.parse(refused).canonical: ImageFacts(ImageRef.parse(refused).canonical, Status.OK, "x")}
    monkeypatch.setattr(cache_module.FactsCache, "get", lambda self, key: stored.get(key))
    settings = Settings(
        Config(timeout=10, daemon_json=str(tmp_path / "none.json")),
        {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"), "NO_PROXY": "*"},
    )
    lookups = [Lookup(ImageRef.parse(refused)), Lookup(ImageRef.parse(f"{registry.hostport}/library/python:3.12-slim"))]
    res = resolve(lookups, settings)  # raised httpx.InvalidURL from batch._transport
    assert res.facts[f"{registry.hostport}/library/python:3.12-slim"].status is Status.OK
    assert res.facts[ImageRef.parse(refused).canonical] == stored[ImageRef.parse(refused).canonical]


def test_a_directory_reached_through_a_symlink_is_still_listed_by_git(tmp_path: Path) -> None:
    """git runs in the physical directory (its cwd resolves symlinks) and finds the work tree there, so
    the check for a ``.git`` above follows the same path (the symlink's own parents have none: no git
    ran, and files the repository ignores were checked)."""
    import subprocess

    from preflight import gitfiles

    repo = tmp_path / "repo"
    (repo / "sub" / "ignored").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "sub" / ".gitignore").write_text("ignored/\n")
    (repo / "sub" / "Dockerfile").write_text("FROM alpine:3.20\n")
    (repo / "sub" / "ignored" / "Dockerfile").write_text("FROM alpine:3.20\n")
    (tmp_path / "outside").mkdir()
    link = tmp_path / "outside" / "link"
    link.symlink_to(repo / "sub")
    listed = gitfiles.ls_files(str(link))
    assert listed is not None and ("Dockerfile", False) in listed
    assert not any(p.startswith("ignored") for p, _ in listed)
