"""Connections on asyncio's own streams, for httpcore.

httpcore's default backend for asyncio goes through anyio: every read and write opens a cancel scope
and looks the backend up again, which was a tenth of a cold run's CPU. This backend speaks to
asyncio directly (``asyncio.open_connection``, ``StreamWriter.start_tls``, ``asyncio.timeout``) and
maps failures to httpcore's exceptions as its own backends do: ``TimeoutError`` to the ``*Timeout``,
``OSError`` and TLS errors to the ``*Error`` of that step, the original kept as ``__cause__`` (the
failure diagnosis reads TLS alerts from there).
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable

import httpcore
from httpcore import SOCKET_OPTION

from .network import InsideTLS
from .network import short_error as _short

_READ_LIMIT = 1 << 16  # the StreamReader's buffer limit; httpcore reads at most 64 KiB at a time


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (then maybe TLS) connection as an ``httpcore.AsyncNetworkStream``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.tls = False  # the TLS handshake has begun: failures are marked InsideTLS for the diagnosis

    def _cause(self, exc: BaseException) -> BaseException:
        """``exc``, marked InsideTLS once the handshake has begun. The mark goes on ``exc`` itself:
        httpcore's pool re-raises our error ``from None``, which keeps only its context, ``exc``."""
        if self.tls:
            marker = InsideTLS()
            marker.__cause__, exc.__cause__ = exc.__cause__, marker
        return exc

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(_short(exc)) from exc
        except OSError as exc:  # ssl.SSLError too (a TLS alert after the handshake) is an OSError
            raise httpcore.ReadError(_short(exc)) from self._cause(exc)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self.writer.write(buffer)
                await self.writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(_short(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(_short(exc)) from self._cause(exc)

    async def aclose(self) -> None:
        transport = self.writer.transport
        if transport.is_closing():
            # Closed already (by the peer, or an earlier aclose): the socket is gone or going. A second
            # close() would, on Python 3.11.2's TLS transport, drop the protocol that abort() needs.
            return
        # close() sends TLS's close_notify, then asyncio would keep the socket up to 30 s for the peer's
        # answer (a hostile server never sends it): one loop turn to flush, then the socket goes.
        self.writer.close()
        await asyncio.sleep(0)
        transport.abort()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        self.tls = True
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.writer.transport.abort()
            raise httpcore.ConnectTimeout(_short(exc)) from exc
        except OSError as exc:
            self.writer.transport.abort()
            raise httpcore.ConnectError(_short(exc)) from self._cause(exc)
        return self

    def get_extra_info(self, info: str) -> object:
        if info == "ssl_object":
            return self.writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self.writer.get_extra_info("sockname")
        if info == "server_addr":
            return self.writer.get_extra_info("peername")
        if info == "socket":
            return self.writer.get_extra_info("socket")
        if info == "is_readable":  # an idle connection with data waiting or closed: httpcore retires it
            return self._idle_input() or _readable(self.writer.get_extra_info("socket"))
        return None

    def _idle_input(self) -> bool:
        """asyncio reads eagerly: bytes, an error or the end that arrived while the connection was idle
        are in the reader already, not in the socket (a stray answer must not answer the next request)."""
        return self.reader.at_eof() or self.reader.exception() is not None or bool(getattr(self.reader, "_buffer", b""))


def _readable(sock: socket.socket | None) -> bool:
    if sock is None:
        return True
    try:
        if sock.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


async def connect_tcp(
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None = None,
    socket_options: Iterable[SOCKET_OPTION] | None = None,
) -> AsyncioStream:
    """A TCP connection to ``address`` (an IP address: names are resolved before, by the caller)."""
    local = (local_address, 0) if local_address is not None else None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port, limit=_READ_LIMIT, local_addr=local)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(_short(exc)) from exc
    except OSError as exc:
        raise httpcore.ConnectError(_short(exc)) from exc
    sock = writer.get_extra_info("socket")
    try:
        for option in socket_options or ():
            sock.setsockopt(*option)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        writer.close()
        raise httpcore.ConnectError(_short(exc)) from exc
    return AsyncioStream(reader, writer)
