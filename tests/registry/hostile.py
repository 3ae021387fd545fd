"""A scripted, hostile registry on 127.0.0.1: what a registry (or whoever answers for it) may send.

Plain attributes set what each endpoint answers; every request line is recorded in ``requests``.

* ``token``: None (no authentication), ``"ok"`` (Bearer challenge, then a small token),
  ``"forever"`` (the token endpoint streams a JSON string with no end, chunked) or ``"bomb"``
  (a gzip bomb: ``Content-Encoding: gzip``, ~2 MB on the wire, 2 GiB decoded).
* ``challenge_forever``: the 401 that asks for a token has a body without end.
* ``manifest``: ``"missing"`` (404: the tag does not exist), ``"bomb"`` (HEAD 200 without a
  digest, so the client GETs a gzip-bombed manifest) or ``"forever"``.
* ``tags`` / ``repositories``: the lists ``tags/list`` and ``_catalog`` return, verbatim
  (any string, control characters included); ``tags_bomb`` sends a gzip bomb instead;
  ``missing_repositories`` answer 404 to ``tags/list``; ``page_size`` pages ``tags/list`` (``last`` is an index here, ``Link`` points to the next page).
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from functools import cache
from urllib.parse import parse_qs

from .httpthread import BackgroundHTTPServer, LoopbackAddress, QuietHandler

BOMB_DECODED = 2 * 1024 * 1024 * 1024  # 2 GiB once decoded
TOKEN = "hostile-test-token"


@cache
def gzip_bomb(decoded: int = BOMB_DECODED) -> bytes:
    """A valid gzip member of ``decoded`` zero bytes (~1/1000 of that on the wire), built from one
    compressed megabyte repeated: a full flush resets the compressor, so every block is the same."""
    chunk = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = decoded // len(chunk)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, (count * len(chunk)) & 0xFFFFFFFF)
    return header + block * count + compressor.flush() + trailer


class HostileRegistry(LoopbackAddress):
    def __init__(self) -> None:
        self.token: str | None = None
        self.challenge_forever = False
        self.manifest = "missing"
        self.tags: list[str] = []
        self.tags_bomb = False
        self.page_size: int | None = None  # tags/list in pages of this many, with a Link to the next
        self.repositories: list[str] = []
        self.missing_repositories: set[str] = set()  # tags/list answers 404 NAME_UNKNOWN for these
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = BackgroundHTTPServer(_handler(self), "hostile-registry")
        self.port = self._server.port

    def start(self) -> HostileRegistry:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def record(self, line: str) -> None:
        with self._lock:
            self.requests.append(line)


class _HostileHandler(QuietHandler):
    """Answers as its ``registry``'s attributes say."""

    registry: HostileRegistry

    def handle_any(self) -> None:
        self.registry.record(f"{self.command} {self.path}")
        path = self.path.partition("?")[0]
        if path == "/token":
            self.token_answer()
            return
        if self.registry.token is not None and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.challenge()
            return
        if path == "/v2/" or path == "/v2":
            self.send(200, b"{}", [("Content-Type", "application/json")])
        elif (
            path.endswith("/tags/list") and path[len("/v2/") : -len("/tags/list")] in self.registry.missing_repositories
        ):
            self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', [("Content-Type", "application/json")])
        elif path.endswith("/tags/list"):
            if self.registry.tags_bomb:
                self.bomb("application/json")
            else:
                self.tags_page(path)
        elif path == "/v2/_catalog":
            self.json({"repositories": self.registry.repositories})
        elif "/manifests/" in path:
            self.manifest_answer()
        else:
            self.send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', [("Content-Type", "application/json")])

    def challenge(self) -> None:
        """401 with a Bearer challenge pointing at ``/token`` (with a body without end if ``challenge_forever``)."""
        realm = f"{self.registry.url}/token"
        challenge = f'Bearer realm="{realm}",service="hostile",scope="repository:app:pull"'
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        if self.registry.challenge_forever:
            self.forever(body[:-3], status=401, headers=[("WWW-Authenticate", challenge)])
            return
        self.send(401, body, [("WWW-Authenticate", challenge), ("Content-Type", "application/json")])

    def tags_page(self, path: str) -> None:
        tags = self.registry.tags
        size = self.registry.page_size or len(tags)
        start = int(parse_qs(self.path.partition("?")[2]).get("last", ["-1"])[0]) + 1
        page = tags[start : start + size]
        headers = [("Content-Type", "application/json")]
        if start + size < len(tags):
            headers.append(("Link", f'<{path}?n={size}&last={start + size - 1}>; rel="next"'))
        self.send(200, json.dumps({"name": "app", "tags": page}).encode(), headers)

    def json(self, data: object) -> None:
        self.send(200, json.dumps(data).encode(), [("Content-Type", "application/json")])

    def token_answer(self) -> None:
        if self.registry.token == "forever":
            self.forever(b'{"token": "' + b"a" * 65536)
        elif self.registry.token == "bomb":
            self.bomb("application/json")
        else:
            self.json({"token": TOKEN, "expires_in": 300})

    def manifest_answer(self) -> None:
        media = "application/vnd.oci.image.manifest.v1+json"
        if self.registry.manifest == "missing":
            self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', [("Content-Type", "application/json")])
        elif self.command == "HEAD":
            self.send(200, b"", [("Content-Type", media)], content_length=1234)
        elif self.registry.manifest == "forever":
            self.forever(b'{"schemaVersion": 2, "x": "' + b"a" * 65536)
        else:
            self.bomb(media)

    def bomb(self, content_type: str) -> None:
        self.send(200, gzip_bomb(), [("Content-Type", content_type), ("Content-Encoding", "gzip")])

    def forever(self, first: bytes, status: int = 200, headers: list[tuple[str, str]] | None = None) -> None:
        """Chunked, without end, until the client hangs up."""
        self.send_forever(status, [*(headers or []), ("Content-Type", "application/json")], first, b"a" * 65536)

    do_GET = do_HEAD = do_POST = handle_any


def _handler(registry: HostileRegistry) -> type[QuietHandler]:
    return type("Handler", (_HostileHandler,), {"registry": registry})
