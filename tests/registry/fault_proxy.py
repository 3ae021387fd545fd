"""A fault-injecting asyncio TCP proxy in a thread (docs/test-registry.md section 10).

It reads HTTP/1.1 requests from the client (head + Content-Length or chunked body), so it can count
them and decide a fault per request; responses are relayed as raw bytes. A fault always ends the
client connection. Canned replies carry ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from .httpthread import LoopbackAddress

_ERROR_CODES = {429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "reset" | "stall" | "close_mid_body"
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


def error_body(status: int) -> bytes:
    """``{"errors":[{"code": …}]}`` with TOOMANYREQUESTS for 429, UNAVAILABLE for 503, else UNKNOWN."""
    code = _ERROR_CODES.get(status, "UNKNOWN")
    message = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
    return json.dumps({"errors": [{"code": code, "message": message.lower(), "detail": None}]}).encode()


class FaultProxy(LoopbackAddress):
    """Proxy ``127.0.0.1:<port>`` -> upstream. Knobs may change while it runs.

    ``latency``: seconds slept before forwarding each request. ``fail_next(n, status, headers, body)``,
    ``reset_next(n)``, ``stall_next(n)``, ``close_mid_body_next(n)`` queue faults for the next n requests
    (FIFO across kinds). Counters: ``connections``, ``requests``; ``request_lines`` lists every request line.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.latency = 0.0
        self.connections = 0
        self.requests = 0
        self.request_lines: list[str] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- knobs -------------------------------------------------------------------------------------
    def _queue(self, n: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    def fail_next(
        self, n: int, status: int, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> None:
        """Answer the next n requests with ``status`` (JSON error body unless ``body``) and close."""
        self._queue(n, Fault("status", status, tuple((headers or {}).items()), body))

    def reset_next(self, n: int) -> None:
        """Read the next n requests, then close with SO_LINGER 0 (RST)."""
        self._queue(n, Fault("reset"))

    def stall_next(self, n: int) -> None:
        """Read the next n requests and never answer (until the client closes or the proxy stops)."""
        self._queue(n, Fault("stall"))

    def close_mid_body_next(self, n: int) -> None:
        """Forward the next n requests, relay the response head and half its body, then close."""
        self._queue(n, Fault("close_mid_body"))

    def _pop_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("fault proxy thread did not stop")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._loop.call_soon(self._loop.stop)

    # -- connections -------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        upstream: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests += 1
                self.request_lines.append(request.split(b"\r\n", 1)[0].decode("latin-1"))
                fault = self._pop_fault()
                if fault is not None:
                    await self._apply(fault, request, reader, writer)
                    break
                if self.latency:
                    await asyncio.sleep(self.latency)
                if upstream is None:
                    up_reader, upstream = await asyncio.open_connection(*self.upstream)
                    pump = asyncio.create_task(_pipe(up_reader, writer))
                upstream.write(request)
                await upstream.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()
            self._tasks.discard(task)

    async def _apply(
        self, fault: Fault, request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if fault.kind == "status":
            writer.write(_canned(fault, request.startswith(b"HEAD ")))
            await writer.drain()
        elif fault.kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif fault.kind == "stall":
            while await reader.read(65536):
                pass
        elif fault.kind == "close_mid_body":
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            try:
                up_writer.write(request)
                await up_writer.drain()
                head = await up_reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if request.startswith(b"HEAD "):
                    body = b""
                elif length is not None:
                    body = await up_reader.readexactly(length)
                else:
                    body = await up_reader.read(65536)
                writer.write(head + body[: len(body) // 2])
                await writer.drain()
            finally:
                up_writer.close()


def _canned(fault: Fault, head_request: bool) -> bytes:
    body = fault.body if fault.body is not None else error_body(fault.status)
    phrase = HTTPStatus(fault.status).phrase if fault.status in HTTPStatus._value2member_map_ else "Error"
    lines = [
        f"HTTP/1.1 {fault.status} {phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines += [f"{name}: {value}" for name, value in fault.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_request else body)


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _content_length(head: bytes) -> int | None:
    value = _header(head, b"content-length")
    return int(value) if value is not None else None


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request (head + body) as raw bytes; None at a clean EOF between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += await reader.readexactly(size + 2)
        while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
            body += trailer
        return head + body + b"\r\n"
    return head + await reader.readexactly(_content_length(head) or 0)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Relay upstream bytes to the client; close the client when the upstream closes."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()
