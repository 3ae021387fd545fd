"""HTTP mechanics for one repository on one endpoint: requests, redirects, paging, capped reads.

``Repo`` sends every request of a lookup through the run's client (``transport.RegistryTransport``
guards, limits and retries each one) and hands back a ``Reply`` with the body read under a cap.
Its primitives are what the lookup (``lookup.py``) and a deeper walk build on: a manifest by tag or
digest (``manifest``, verified against a pinned digest with the digest's own algorithm), a blob
(``blob``, verified; ``head_blob``), the tag listing (paged, capped, one per run and repository)
and ``_catalog``. An answer that ends the lookup becomes a ``Failure`` through the pure table in
``outcome.py``.

Redirects are followed here, by hand (``follow_redirects=False`` on the client): at most 5
hops, ``Location`` resolved against the request URL, https only unless the registry is
insecure, and the auth flow only while scheme, host and port stay the registry's.
Never keeps or prints a response body: errors carry status, code and a short clean message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..facts import Status
from ..imageref import is_digest, is_repository_path, is_tag
from .auth import AuthOutcome, AuthState, RegistryAuth
from .body import EXT_BODY_CAP, BodyRefused
from .credentials import Credential
from .endpoints import Endpoint
from .manifest import MANIFEST_ACCEPT, matches
from .network import Unreachable, diagnose, netloc, parse_ratelimit, safe_url
from .outcome import Failure, HttpOutcome, Request, classify, error_fields
from .transport import EXT_REGISTRY

MANIFEST_CAP = 4 * 1024 * 1024
BLOB_CAP = 1024 * 1024
ERROR_CAP = 64 * 1024
PAGE_CAP = 2 * 1024 * 1024
LIST_TOTAL_CAP = 8 * 1024 * 1024
LIST_ITEMS_CAP = 100_000  # tags or repositories kept for suggestions: bounds memory (~100 bytes each)
MAX_PAGES = 20
MAX_HOPS = 5
BODY_TRIES = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)
log = logging.getLogger("preflight.registry")


@dataclass
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL
    outcome: AuthOutcome | None

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def digest(self) -> str | None:
        """``Docker-Content-Digest`` when it is a valid digest (else None: the body is hashed instead)."""
        value = self.headers.get("docker-content-digest", "").strip()
        return value if is_digest(value) else None


@dataclass
class Run:
    """What every probe of one run shares."""

    client: httpx.AsyncClient
    auth: AuthState
    proxied: Any  # callable(URL) -> proxy URL or None
    tag_lists: dict[tuple[str, str, str], asyncio.Future[list[str] | None]] = field(default_factory=dict)
    # manifest bodies the lookups read, by the digest they were checked against (--deep reads them again)
    manifests: dict[str, bytes] = field(default_factory=dict)


def base_url(endpoint: Endpoint) -> httpx.URL:
    """The endpoint's base URL with a trailing slash: ``/v2/...`` is joined below it (path prefixes kept)."""
    return httpx.URL(endpoint.base_url.rstrip("/") + "/")


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


class Repo:
    """Requests about one repository on one endpoint, with one credential (or none)."""

    def __init__(self, run: Run, endpoint: Endpoint, path: str, credential: Credential | None) -> None:
        self.run = run
        self.endpoint = endpoint
        self.base = base_url(endpoint)
        self.host = netloc(self.base)  # host[:port] as messages name it
        self.path = path
        self.credential = credential
        self.sent_credentials = False
        self.notes: list[str] = []
        self.ratelimit: int | None = None

    # ------------------------------------------------------------ primitives
    async def head_manifest(self, reference: str) -> Reply:
        return await self.fetch("HEAD", f"/v2/{self.path}/manifests/{reference}", accept=MANIFEST_ACCEPT)

    async def get_manifest(self, reference: str) -> Reply:
        return await self.fetch(
            "GET", f"/v2/{self.path}/manifests/{reference}", accept=MANIFEST_ACCEPT, cap=MANIFEST_CAP
        )

    async def manifest(self, reference: str, verify: str | None) -> bytes:
        """The manifest's bytes (GET); when ``verify`` is a digest, they must hash to it."""
        reply = await self.get_manifest(reference)
        if reply.status != 200:
            raise self.failure(reply)
        if verify is not None:
            self.check_digest(reply.body, verify, "a manifest")
        return reply.body

    async def blob(self, digest: str, cap: int = BLOB_CAP, what: str = "config blob") -> bytes:
        """A blob's bytes (GET, at most ``cap``), verified against ``digest`` with its own algorithm."""
        reply = await self.fetch("GET", f"/v2/{self.path}/blobs/{digest}", cap=cap, request=Request.BLOB)
        if reply.status != 200:
            raise self.failure(reply)
        if not matches(reply.body, digest):
            raise Failure(Status.REGISTRY_ERROR, f"{self.host} sent a {what} that does not match {digest}")
        return reply.body

    async def head_blob(self, digest: str) -> Reply:
        """HEAD a blob: status and ``Content-Length`` (whether the registry still has it, and its size)."""
        return await self.fetch("HEAD", f"/v2/{self.path}/blobs/{digest}", request=Request.BLOB)

    def check_digest(self, body: bytes, digest: str, what: str) -> None:
        if not matches(body, digest):
            algorithm = digest.split(":", 1)[0]
            raise Failure(Status.REGISTRY_ERROR, f"{self.host} sent {what} whose {algorithm} does not match {digest}")

    async def list_tags(self) -> list[str] | None:
        """All tags (paged, capped); None when the repository does not exist. One listing per
        repository, endpoint and credential per run, however many of its tags are missing."""
        key = (str(self.base), self.path, self.credential.identity if self.credential else "")
        pending = self.run.tag_lists.get(key)
        if pending is None:
            pending = self.run.tag_lists[key] = asyncio.ensure_future(
                self._paged(f"/v2/{self.path}/tags/list", "tags", None)
            )
        return await asyncio.shield(pending)

    async def catalog(self) -> list[str]:
        try:
            found = await self._paged("/v2/_catalog", "repositories", ("registry:catalog:*",))
        except Failure:
            return []
        return found or []

    def failure(self, reply: Reply, request: Request = Request.MANIFEST) -> Failure:
        """The ``Failure`` for an answer that ends the lookup (``outcome.classify``)."""
        code, message = error_fields(reply.body)
        cred = self.credential if self.sent_credentials else None
        return classify(
            HttpOutcome(
                host=self.host,
                status=reply.status,
                request=request,
                headers=reply.headers,
                error_code=code,
                error_message=message,
                auth=reply.outcome or AuthOutcome(),
                credential_source=cred.source if cred is not None else None,
                plain_http=reply.url.scheme == "http",
                proxied=bool(self.run.proxied(reply.url)) if self.run.proxied else False,
                ratelimit=self.ratelimit,
            )
        )

    # ------------------------------------------------------------ one request
    async def fetch(
        self,
        method: str,
        target: str | httpx.URL,
        *,
        accept: str | None = None,
        cap: int = 0,
        scopes: tuple[str, ...] | None = None,
        request: Request = Request.MANIFEST,
    ) -> Reply:
        """One request, redirects followed by hand; a body cut off mid-way is fetched again (3 tries)."""
        for attempt in range(1, BODY_TRIES + 1):
            try:
                return await self._fetch(method, target, accept=accept, cap=cap, scopes=scopes, request=request)
            except BodyRefused as exc:  # too large once decoded, or an encoding preflight does not take
                raise Failure(Status.REGISTRY_ERROR, exc.message) from None
            except httpx.DecodingError:  # a RequestError, not a TransportError: a broken Content-Encoding
                raise Failure(
                    Status.REGISTRY_ERROR, f"{self.host} sent a body that its Content-Encoding cannot decode"
                ) from None
            except httpx.TransportError as exc:  # the transport retried sending; this is the body
                if attempt == BODY_TRIES:
                    url = self._url(target) if isinstance(target, str) else target
                    raise Unreachable(diagnose(exc, url, self.run.proxied(url) if self.run.proxied else None)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _auth(self, url: httpx.URL, scopes: tuple[str, ...] | None) -> RegistryAuth | None:
        """The auth flow, only while scheme, host and port stay the registry's."""
        if _origin(url) != _origin(self.base):
            return None
        return RegistryAuth(
            self.run.auth,
            registry_host=self.base.host,
            registry_netloc=netloc(self.base),
            scopes=scopes or (f"repository:{self.path}:pull",),
            credential=self.credential,
            insecure=self.base.scheme == "http",
        )

    async def _fetch(
        self,
        method: str,
        target: str | httpx.URL,
        *,
        accept: str | None,
        cap: int,
        scopes: tuple[str, ...] | None,
        request: Request,
    ) -> Reply:
        url = self._url(target) if isinstance(target, str) else target
        headers = {"Accept": accept} if accept else {}
        for _ in range(MAX_HOPS + 1):
            auth = self._auth(url, scopes)
            sent = self.run.client.build_request(
                method,
                url,
                headers=headers,
                extensions={EXT_REGISTRY: netloc(self.base), EXT_BODY_CAP: cap or ERROR_CAP},
            )
            response = await self.run.client.send(sent, auth=auth, stream=True)
            outcome = auth.outcome if auth is not None else None
            if outcome is not None:
                await self._after_auth(response, outcome, request)
            self._observe(response)
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                await response.aclose()
                url = self._next_hop(response.url, location)
                log.debug(
                    "%s redirected (%d) to %s%s",
                    safe_url(response.url),
                    response.status_code,
                    safe_url(url),
                    "" if _origin(url) == _origin(self.base) else ": another origin, no credentials",
                )
                if response.status_code == 303:
                    method = "GET" if method != "HEAD" else method
                continue
            ok = 200 <= response.status_code < 300
            limit = cap if ok else ERROR_CAP
            body = await _read_capped(response, limit, method) if (limit or method == "HEAD") else b""
            await response.aclose()
            return Reply(response.status_code, response.headers, body, response.url, outcome)
        raise Failure(Status.REGISTRY_ERROR, f"{self.host} redirected more than {MAX_HOPS} times")

    async def _after_auth(self, response: httpx.Response, outcome: AuthOutcome, request: Request) -> None:
        self.sent_credentials |= outcome.sent_credentials
        self.notes.extend(n for n in outcome.notes if n not in self.notes)
        if outcome.token_status is not None or outcome.token_problem:
            # the flow ended at the token service: this response is the realm's, not the registry's
            await response.aclose()
            raise self.failure(Reply(response.status_code, response.headers, b"", response.url, outcome), request)

    def _observe(self, response: httpx.Response) -> None:
        remaining = parse_ratelimit(response.headers.get("ratelimit-remaining"))
        if remaining is not None:
            self.ratelimit = remaining if self.ratelimit is None else min(self.ratelimit, remaining)

    def _url(self, path: str) -> httpx.URL:
        """``/v2/...`` below the endpoint's base URL, keeping a path prefix (Artifactory, Nexus)."""
        return self.base.join(path.lstrip("/"))

    def _next_hop(self, current: httpx.URL, location: str) -> httpx.URL:
        try:
            nxt = current.join(location)
        except Exception:
            raise Failure(Status.REGISTRY_ERROR, f"{self.host} sent an invalid redirect") from None
        allowed = ("https", "http") if self.base.scheme == "http" else ("https",)
        if nxt.scheme not in allowed or not nxt.host:
            raise Failure(
                Status.REGISTRY_ERROR,
                f"{self.host} redirected to a {nxt.scheme or 'relative'}:// URL, which preflight does not follow",
            )
        return nxt

    # ------------------------------------------------------------ paged lists
    async def _paged(self, path: str, key: str, scopes: tuple[str, ...] | None) -> list[str] | None:
        request = Request.TAGS if key == "tags" else Request.CATALOG
        items: list[str] = []
        size = 0
        page_size = 1000
        last: str | None = None
        seen_pages: set[tuple[str, ...]] = set()
        for _ in range(MAX_PAGES):
            params = {"n": str(page_size)} | ({"last": last} if last else {})
            url = self._url(path).copy_merge_params(params)
            reply = await self.fetch("GET", url, cap=PAGE_CAP, scopes=scopes, request=request)
            if reply.status in (400, 405, 413) and page_size == 1000 and not items:
                page_size = 100  # ECR (>1000), Quay (>100) reject big pages
                continue
            if reply.status == 404 and not items:
                return None
            if reply.status != 200:
                raise self.failure(reply, request)
            size += len(reply.body)
            page = self._page(reply, key)
            valid = self._valid(page, key, reply)
            if not page or tuple(page) in seen_pages:
                break
            seen_pages.add(tuple(page))
            items.extend(valid[: LIST_ITEMS_CAP - len(items)])
            nxt = self._next_page(reply)
            if nxt is None or size > LIST_TOTAL_CAP or len(items) >= LIST_ITEMS_CAP:
                if nxt is not None:
                    log.debug("%s: %s list cut at %d entries", self.host, key, len(items))
                break
            last = nxt
        return items

    def _page(self, reply: Reply, key: str) -> list[str]:
        try:
            data = json.loads(reply.body)
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            raise Failure(Status.REGISTRY_ERROR, f"{self.host} sent a malformed {key} list") from None
        page = data.get(key) if isinstance(data, dict) else None
        if page is None:
            page = []  # "tags": null means no tags
        if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
            raise Failure(Status.REGISTRY_ERROR, f"{self.host} sent a malformed {key} list")
        return page

    @staticmethod
    def _valid(page: list[str], key: str, reply: Reply) -> list[str]:
        valid = [t for t in page if (is_tag(t) if key == "tags" else is_repository_path(t))]
        if len(valid) != len(page):  # never shown, suggested or written into a fix
            log.debug(
                "%s: dropped %d %s that the reference grammar does not allow",
                safe_url(reply.url),
                len(page) - len(valid),
                key,
            )
        return valid

    def _next_page(self, reply: Reply) -> str | None:
        """The ``last`` value of a same-origin ``Link: <...>; rel="next"``, else None."""
        match = _LINK_NEXT.search(reply.headers.get("link", ""))
        if match is None:
            return None
        try:
            target = reply.url.join(match.group(1))
        except Exception:
            return None
        if _origin(target) != _origin(reply.url):
            log.debug("%s: not following a Link to another origin (%s)", safe_url(reply.url), safe_url(target))
            return None  # never follow a Link to another origin
        # keep our own request path (Artifactory drops a virtual-repo prefix); take only `last`
        return target.params.get("last") or None


async def _read_capped(response: httpx.Response, cap: int, method: str) -> bytes:
    if method == "HEAD":  # no body, but reading its end lets the connection serve the next request
        await response.aread()  # empty (h11 knows it answers a HEAD); a no-op if already read
        return b""
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            await response.aclose()
            raise Failure(Status.REGISTRY_ERROR, f"answer from {netloc(response.url)} is larger than {cap} bytes")
    return bytes(buf)
