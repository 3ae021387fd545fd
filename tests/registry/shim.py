"""An HTTP-aware reverse proxy in front of the open registry, for what Distribution 2.8 cannot do.

Knobs (plain attributes, changeable while it runs):
* ``extra_headers``: added to every response (``rate_limit()`` sets Hub's ``ratelimit-*`` pair).
* ``page_size``: paginate ``tags/list`` (lexical order, ``n``/``last`` honoured, relative ``Link``);
  with ``page_size`` None only requests carrying ``n`` are paginated. ``link_override``: the literal
  ``Link`` value to send instead (same page again = loop, another host = cross-origin).
* ``redirect_pattern``: regex on the path; matches get ``307`` to the ``sidecar`` listener (another
  port, so another origin), which records method, path and ``Authorization`` in ``redirected`` and
  forwards to the registry. ``redirect_loop``: matches get ``307`` to the very same URL instead.
* ``wrong_digest`` / ``drop_digest``: mangle ``Docker-Content-Digest`` on manifest responses.
* ``manifest_body``: replace manifest bodies (e.g. invalid JSON); ``truncate_manifests``: halve them.
* ``path_prefix``: serve the registry below a path (``/artifactory/api/docker/local``), as Artifactory's
  repository path method or a reverse proxy does: the prefix is stripped before forwarding, requests
  outside it get 404, and ``Link``/realm-free answers keep the registry's own ``/v2/`` paths (Artifactory's
  ``Link`` drops the prefix too).
Every request is recorded in ``requests``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from typing import NamedTuple
from urllib.parse import parse_qs, quote

from .httpthread import BackgroundHTTPServer, LoopbackAddress, QuietHandler

WRONG_DIGEST = "sha256:" + hashlib.sha256(b"not the manifest").hexdigest()
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "host",
}
_MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
_TAGS = re.compile(r"^/v2/(.+)/tags/list$")


class SeenRequest(NamedTuple):
    method: str
    path: str  # path and query as sent
    authorization: str | None


class Upstream:
    """Minimal forwarding to the registry: one short-lived connection per request, no proxy variables."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()


class Shim(LoopbackAddress):
    """Reverse proxy to ``upstream`` (host, port); the sidecar forwards to ``sidecar_upstream`` (default the same).

    Point the sidecar at an open registry to mimic a CDN that needs no credentials.
    """

    def __init__(self, upstream: tuple[str, int], sidecar_upstream: tuple[str, int] | None = None) -> None:
        self.upstream = Upstream(*upstream)
        self.sidecar_upstream = Upstream(*(sidecar_upstream or upstream))
        self.extra_headers: dict[str, str] = {}
        self.page_size: int | None = None
        self.link_override: str | None = None
        self.redirect_pattern: str | None = None
        self.redirect_loop = False
        self.wrong_digest = False
        self.drop_digest = False
        self.manifest_body: bytes | None = None
        self.truncate_manifests = False
        self.path_prefix = ""
        self.requests: list[SeenRequest] = []
        self.redirected: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server = BackgroundHTTPServer(_make_handler(self, sidecar=False), "registry-shim")
        self._sidecar = BackgroundHTTPServer(_make_handler(self, sidecar=True), "registry-shim-sidecar")
        self.port = self._server.port
        self.sidecar_url = self._sidecar.url

    def rate_limit(self, limit: int = 100, remaining: int = 42, window: int = 21600) -> None:
        """Add Docker Hub's ``ratelimit-limit``/``ratelimit-remaining`` headers to every response."""
        self.extra_headers["ratelimit-limit"] = f"{limit};w={window}"
        self.extra_headers["ratelimit-remaining"] = f"{remaining};w={window}"

    def start(self) -> Shim:
        self._server.start()
        self._sidecar.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._sidecar.stop()

    def record(self, entry: SeenRequest, sidecar: bool) -> None:
        with self._lock:
            (self.redirected if sidecar else self.requests).append(entry)

    def tags_page(self, name: str, query: str, status: int, body: bytes) -> tuple[bytes, str | None] | None:
        """(page body, Link) when this tags/list request is paginated, else None."""
        params = parse_qs(query)
        if status != 200 or (self.page_size is None and "n" not in params):
            return None
        tags = sorted(json.loads(body).get("tags") or [])
        n = int(params["n"][0]) if "n" in params else len(tags)
        if self.page_size is not None:
            n = min(n, self.page_size)
        if "last" in params:
            tags = [tag for tag in tags if tag > params["last"][0]]
        page = tags[:n]
        link = None
        if n > 0 and len(tags) > n:
            link = f'</v2/{name}/tags/list?last={quote(page[-1])}&n={n}>; rel="next"'
        if self.link_override is not None:
            link = self.link_override
        return json.dumps({"name": name, "tags": page}).encode(), link


class _ShimHandler(QuietHandler):
    """Forwards to the shim's upstream (or, on the sidecar listener, the sidecar's) and applies its knobs."""

    shim: Shim
    sidecar: bool

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request_body = self.rfile.read(length) if length else b""
        self.shim.record(SeenRequest(self.command, self.path, self.headers.get("Authorization")), self.sidecar)
        target = self.below_prefix()
        if target is None:
            return
        path, _, query = target.partition("?")
        extra = list(self.shim.extra_headers.items())
        if not self.sidecar and self.shim.redirect_pattern and re.search(self.shim.redirect_pattern, path):
            location = self.shim.url if self.shim.redirect_loop else self.shim.sidecar_url
            self.send(307, b"", [("Location", location + self.path), *extra])
            return
        upstream = self.shim.sidecar_upstream if self.sidecar else self.shim.upstream
        status, headers, body = upstream.forward(self.command, target, list(self.headers.items()), request_body)
        length = len(body)
        if self.command == "HEAD":  # no body: keep the length the registry announced
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        headers = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
        if not self.sidecar:
            headers, body, length = self.mangle(path, query, status, headers, body, length)
        self.send(status, body, headers + extra, content_length=length)

    def below_prefix(self) -> str | None:
        """The request's target with the shim's path prefix removed; None (answered 404) when it is not below it."""
        if not self.shim.path_prefix or self.sidecar:
            return self.path
        if not self.path.startswith(self.shim.path_prefix + "/"):
            self.send(404, b"not below the path prefix\n", [("Content-Type", "text/plain")])
            return None
        return self.path[len(self.shim.path_prefix) :]

    def mangle(
        self, path: str, query: str, status: int, headers: list[tuple[str, str]], body: bytes, length: int
    ) -> tuple[list[tuple[str, str]], bytes, int]:
        tags = _TAGS.match(path)
        if tags and self.command == "GET":
            paged = self.shim.tags_page(tags.group(1), query, status, body)
            if paged is not None:
                body, link = paged
                if link:
                    headers.append(("Link", link))
                return headers, body, len(body)
        if status == 200 and _MANIFEST.match(path):
            if self.shim.wrong_digest or self.shim.drop_digest:
                headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
                if self.shim.wrong_digest:
                    headers.append(("Docker-Content-Digest", WRONG_DIGEST))
            if self.shim.manifest_body is not None:
                return headers, self.shim.manifest_body, len(self.shim.manifest_body)
            if self.shim.truncate_manifests:
                body, length = body[: len(body) // 2], length // 2
        return headers, body, length

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def _make_handler(shim: Shim, *, sidecar: bool) -> type[QuietHandler]:
    return type("Handler", (_ShimHandler,), {"shim": shim, "sidecar": sidecar})
