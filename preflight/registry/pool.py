"""Connections of the registry step: address-pinned, HTTP/2-capable httpx transports and the slots that bound them.

``Pools`` holds httpx's own transports, one per (TLS context, proxy, host) and shard, so a single
``httpx.AsyncClient`` serves every registry even though httpx takes ``verify`` per transport. Each
holds at most ``SHARD`` connections over TLS (where HTTP/2 may multiplex them) and one over plain
HTTP (HTTP/1.1: a connection carries one request at a time): httpcore's pool bookkeeping costs the
square of its connections on every request, so a host's requests fill one pool, then the next.

Connections go to the addresses the address guard approved (``PinnedBackend``: one DNS answer per
name per run, the host name kept for SNI, the certificate check and ``Host``), and speak HTTP/2
where a TLS registry offers it (ALPN, ``pinned_transport``), so many lookups share one connection.
The connections themselves are asyncio's own streams (``aiostream``), not anyio's.

A request holds its slots (per host, overall: ``take_slot``) until its response is closed
(``held``), so a pool never queues more requests than it has connections.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable

import httpcore
import httpx
from httpcore import SOCKET_OPTION

from ..safetext import visible
from . import aiostream
from .guard import ResolveOnce, parse_ip

SHARD = 8  # connections per httpcore pool over TLS (Pools.take); plain HTTP: 1
log = logging.getLogger("preflight.registry")

Inner = Callable[[ssl.SSLContext | bool, str | None], httpx.AsyncBaseTransport]  # (TLS context, proxy) → transport
PLAIN = False  # ``verify`` for plain-HTTP URLs (RegistryTransport._transport)


class Pools:
    """The run's inner transports by (TLS context, proxy, host) and shard, made on first use."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, make: Inner | None = None) -> None:
        self.backend = backend
        self._make = make or self._pinned
        self._inner: dict[tuple[int, str | None, str, int], httpx.AsyncBaseTransport] = {}
        self._loads: dict[tuple[int, str | None, str], list[int]] = {}  # requests in flight per pool
        self._keep: list[object] = []  # contexts referenced by id() in _inner's keys

    def take(
        self, verify: ssl.SSLContext | bool, proxy: str | None, host: str
    ) -> tuple[httpx.AsyncBaseTransport, Callable[[], None]]:
        """A connection pool for ``host`` and a function that gives its place back."""
        base = (id(verify) if not isinstance(verify, bool) else int(verify), proxy, host)
        loads = self._loads.setdefault(base, [])
        size = 1 if verify is PLAIN else SHARD
        shard = next((i for i, n in enumerate(loads) if n < size), len(loads))
        if shard == len(loads):
            loads.append(0)
        key = (*base, shard)
        if key not in self._inner:
            self._keep.append(verify)
            self._inner[key] = self._make(verify, proxy)
        loads[shard] += 1

        def done() -> None:
            loads[shard] -= 1

        return self._inner[key], done

    async def aclose(self) -> None:
        for inner in self._inner.values():
            await inner.aclose()

    def _pinned(self, verify: ssl.SSLContext | bool, proxy: str | None) -> httpx.AsyncBaseTransport:
        if verify is PLAIN:  # HTTP/1.1 only: one connection, and no HTTP/2 code to load
            return pinned_transport(verify, proxy, self.backend, 1, http2=False)
        return pinned_transport(verify, proxy, self.backend, SHARD)


async def take_slot(*semaphores: asyncio.Semaphore) -> Callable[[], None]:
    """Acquire each semaphore in order; returns a function that releases them all, once."""
    taken: list[asyncio.Semaphore] = []
    try:
        for sem in semaphores:
            await sem.acquire()
            taken.append(sem)
    except BaseException:
        for sem in reversed(taken):
            sem.release()
        raise

    def release() -> None:
        while taken:
            taken.pop().release()

    return release


def release_both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    """One release function that calls ``first`` then ``second``, once however often it is called."""
    called = False

    def release() -> None:
        nonlocal called
        if not called:
            called = True
            first()
            second()

    return release


class _HeldStream(httpx.AsyncByteStream):
    """A response body whose closing (httpx closes it once read to the end) frees the request's slot."""

    def __init__(self, raw: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self.raw = raw
        self.release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.raw:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.raw.aclose()
        finally:
            self.release()


def held(response: httpx.Response, release: Callable[[], None]) -> httpx.Response:
    """``response`` whose closing calls ``release`` (at once if its body was already read)."""
    if response.is_closed:  # a body already read (a test's MockTransport): nothing left to hold
        release()
        return response
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    response.stream = _HeldStream(stream, release)
    return response


@functools.cache
def _has_h2() -> bool:
    """Whether httpx can speak HTTP/2 here (the optional ``h2`` package, httpx[http2])."""
    return importlib.util.find_spec("h2") is not None


def pinned_transport(
    verify: ssl.SSLContext | bool,
    proxy: str | None,
    backend: httpcore.AsyncNetworkBackend,
    connections: int,
    *,
    http2: bool = True,
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, HTTP/2 enabled (used when TLS negotiates it), connecting through ``backend``."""
    transport = httpx.AsyncHTTPTransport(
        verify=verify,
        proxy=proxy,
        retries=0,
        http2=http2 and _has_h2(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # an httpcore that changed: fail loudly, never connect unpinned
        raise RuntimeError("httpcore connection pool without _network_backend: cannot pin addresses")
    pool._network_backend = backend
    return transport


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connect to the addresses ``resolve`` settled on (the ones the guard judged), never to a second
    DNS answer. httpcore keeps the URL's host name for SNI and the certificate check, and httpx for
    ``Host``, so only the socket's destination changes. Proxies are resolved the same way (the
    target behind an HTTP proxy is resolved by the proxy)."""

    def __init__(self, resolve: ResolveOnce) -> None:
        self.resolve = resolve
        self.connected: list[tuple[str, str, int]] = []  # (name, address, port), for tests and --debug

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if parse_ip(host) is not None:
            addresses = [host.strip("[]")]
        else:
            try:
                addresses = await asyncio.wait_for(asyncio.to_thread(self.resolve.settled, host), timeout)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            if not addresses:
                raise httpcore.ConnectError(f"{host} resolved to no address")
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await aiostream.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # refused, unreachable: the next approved address
                failure = exc
                continue
            self.connected.append((host, address, port))
            log.debug("connected to %s at %s port %d", visible(host), address, port)
            return stream
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("registries are reached over TCP, never a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
