"""Test servers in background threads: an ``http.server`` on 127.0.0.1:0 that closes live keep-alive
connections on stop, and a raw TCP ``Listener`` for servers that misbehave below HTTP."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackAddress:
    """``hostport`` and ``url`` of something listening on 127.0.0.1:``port``."""

    scheme = "http"
    port: int

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.hostport}"


class BackgroundHTTPServer(LoopbackAddress, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.02,), name=name, daemon=True)

    @property  # type: ignore[override]
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> BackgroundHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every open connection (their handler threads return), close the socket."""
        self.shutdown()
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.server_close()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            raise RuntimeError(f"{self._thread.name} did not stop")

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler without stderr logging; ``send`` always sets Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body go out in two writes: avoid the delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(
        self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None, content_length: int | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_forever(self, status: int, headers: list[tuple[str, str]], first: bytes, piece: bytes) -> None:
        """A chunked body of ``first``, then ``piece`` again and again until the client hangs up."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        except OSError:
            self.close_connection = True


class Listener:
    """A raw TCP server on ``address:port`` (default 127.0.0.1, any port): ``handle`` gets each accepted
    connection, in its own thread; ``connections`` counts them as they are accepted."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.held: list[socket.socket] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except OSError:
            conn.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()
        for s in self.held:
            s.close()
