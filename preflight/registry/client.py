"""Ask one registry endpoint about one reference: manifests, tags, index, config blob.

The HTTP outcome becomes an ``ImageFacts`` (statuses in ``facts.Status``):

* existence: ``HEAD /v2/<name>/manifests/<tag|digest>`` with all four manifest types in
  ``Accept``; no ``Docker-Content-Digest`` → GET and sha256 of the raw body; a pinned digest
  whose HEAD names another digest → GET, and the body must hash to the pinned digest;
* a HEAD 404 is confirmed with ``tags/list`` (404 → repository missing, 200 → tag missing
  plus near matches); ``_catalog`` feeds repository suggestions where a registry allows it;
* the index (GET) only when platforms are asked for, and the config blob for
  single-platform images; ``tag@digest`` compares HEAD digest and HEAD tag, and GETs the
  tag's index only when they differ (a pinned platform manifest inside it is no mismatch).

Redirects are followed here, by hand (``follow_redirects=False`` on the client): at most 5
hops, ``Location`` resolved against the request URL, https only unless the registry is
insecure, and the auth flow only while scheme, host and port stay the registry's.
Never keeps or prints a response body: errors carry status, code and a short clean message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ..facts import ImageFacts, Status
from ..imageref import ImageRef, is_digest, is_repository_path, is_tag
from ..platforms import normalize_platform
from ..suggest import near_matches
from .auth import AuthOutcome, AuthState, RegistryAuth
from .body import EXT_BODY_CAP, BodyRefused
from .credentials import Credential
from .transport import (
    EXT_REGISTRY,
    DeadlineExceeded,
    Unreachable,
    diagnose,
    is_docker_hub,
    netloc,
    parse_ratelimit,
    parse_retry_after,
    safe_url,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

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
_UNSAFE = re.compile(r"[^\x20-\x7e]+")
_PLATFORM_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
log = logging.getLogger("preflight.registry")


class Failure(Exception):
    """The lookup ends with this status; ``detail`` is safe to show."""

    def __init__(self, status: Status, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


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


def clean(text: Any, limit: int = 200) -> str:
    """A server-supplied string made safe to show: printable ASCII, one line, at most ``limit``."""
    out = " ".join(_UNSAFE.sub(" ", str(text)).split())
    return out if len(out) <= limit else out[: limit - 3] + "..."


def error_summary(reply: Reply) -> str:
    """``HTTP 500 (UNKNOWN: unknown error)``: status, first error code, clean message."""
    code = message = ""
    if reply.body:
        try:
            data = json.loads(reply.body)
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            data = None
        if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            if isinstance(first, dict):
                code = clean(first.get("code", ""), 40)
                message = clean(first.get("message", ""), 120)
    inner = ": ".join(p for p in (code, message) if p)
    return f"HTTP {reply.status}" + (f" ({inner})" if inner else "")


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class Run:
    """What every probe of one run shares."""

    client: httpx.AsyncClient
    auth: AuthState
    proxied: Any  # callable(URL) -> proxy URL or None
    tag_lists: dict[tuple[str, str, str], asyncio.Future[list[str] | None]] = field(default_factory=dict)


@dataclass
class Endpoint:
    """The parts of ``endpoints.Endpoint`` a probe needs."""

    base_url: str
    insecure: bool = False
    mirror: bool = False

    @property
    def url(self) -> httpx.URL:
        return httpx.URL(self.base_url.rstrip("/") + "/")

    @property
    def host(self) -> str:
        return netloc(self.url)


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


class Repo:
    """Requests about one repository on one endpoint, with one credential (or none)."""

    def __init__(self, run: Run, endpoint: Endpoint, path: str, credential: Credential | None) -> None:
        self.run = run
        self.endpoint = endpoint
        self.base = endpoint.url
        self.path = path
        self.credential = credential
        self.sent_credentials = False
        self.notes: list[str] = []
        self.ratelimit: int | None = None

    async def fetch(
        self,
        method: str,
        target: str | httpx.URL,
        *,
        accept: str | None = None,
        cap: int = 0,
        scopes: tuple[str, ...] | None = None,
    ) -> Reply:
        """One request, redirects followed by hand; a body cut off mid-way is fetched again (3 tries)."""
        for attempt in range(1, BODY_TRIES + 1):
            try:
                return await self._fetch(method, target, accept=accept, cap=cap, scopes=scopes)
            except BodyRefused as exc:  # too large once decoded, or an encoding preflight does not take
                raise Failure(Status.REGISTRY_ERROR, exc.message) from None
            except httpx.DecodingError:  # a RequestError, not a TransportError: a broken Content-Encoding
                raise Failure(
                    Status.REGISTRY_ERROR, f"{self.endpoint.host} sent a body that its Content-Encoding cannot decode"
                ) from None
            except httpx.TransportError as exc:  # the transport retried sending; this is the body
                if attempt == BODY_TRIES:
                    url = self._url(target) if isinstance(target, str) else target
                    raise Unreachable(diagnose(exc, url, self.run.proxied(url) if self.run.proxied else None)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(
        self,
        method: str,
        target: str | httpx.URL,
        *,
        accept: str | None,
        cap: int,
        scopes: tuple[str, ...] | None,
    ) -> Reply:
        url = self._url(target) if isinstance(target, str) else target
        headers = {"Accept": accept} if accept else {}
        for _ in range(MAX_HOPS + 1):
            same = _origin(url) == _origin(self.base)
            auth = None
            if same:
                auth = RegistryAuth(
                    self.run.auth,
                    registry_host=self.base.host,
                    registry_netloc=netloc(self.base),
                    scopes=scopes or (f"repository:{self.path}:pull",),
                    credential=self.credential,
                    insecure=self.base.scheme == "http",
                )
            request = self.run.client.build_request(
                method,
                url,
                headers=headers,
                extensions={EXT_REGISTRY: netloc(self.base), EXT_BODY_CAP: cap or ERROR_CAP},
            )
            response = await self.run.client.send(request, auth=auth, stream=True)
            if auth is not None:
                self.sent_credentials |= auth.outcome.sent_credentials
                self.notes.extend(n for n in auth.outcome.notes if n not in self.notes)
                if auth.outcome.token_status is not None or auth.outcome.token_problem:
                    # the flow ended at the token service: this response is the realm's, not the registry's
                    await response.aclose()
                    raise self.failure(Reply(response.status_code, response.headers, b"", response.url, auth.outcome))
            remaining = parse_ratelimit(response.headers.get("ratelimit-remaining"))
            if remaining is not None:
                self.ratelimit = remaining if self.ratelimit is None else min(self.ratelimit, remaining)
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
            return Reply(
                response.status_code, response.headers, body, response.url, auth.outcome if auth is not None else None
            )
        raise Failure(Status.REGISTRY_ERROR, f"{self.endpoint.host} redirected more than {MAX_HOPS} times")

    def _url(self, path: str) -> httpx.URL:
        """``/v2/...`` below the endpoint's base URL, keeping a path prefix (Artifactory, Nexus)."""
        return self.base.join(path.lstrip("/"))

    def _next_hop(self, current: httpx.URL, location: str) -> httpx.URL:
        try:
            nxt = current.join(location)
        except Exception:
            raise Failure(Status.REGISTRY_ERROR, f"{self.endpoint.host} sent an invalid redirect") from None
        allowed = ("https", "http") if self.base.scheme == "http" else ("https",)
        if nxt.scheme not in allowed or not nxt.host:
            raise Failure(
                Status.REGISTRY_ERROR,
                f"{self.endpoint.host} redirected to a {nxt.scheme or 'relative'}:// "
                "URL, which preflight does not follow",
            )
        return nxt

    # ------------------------------------------------------------ operations
    async def head_manifest(self, reference: str) -> Reply:
        return await self.fetch("HEAD", f"/v2/{self.path}/manifests/{reference}", accept=MANIFEST_ACCEPT)

    async def get_manifest(self, reference: str) -> Reply:
        return await self.fetch(
            "GET", f"/v2/{self.path}/manifests/{reference}", accept=MANIFEST_ACCEPT, cap=MANIFEST_CAP
        )

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

    async def _paged(self, path: str, key: str, scopes: tuple[str, ...] | None) -> list[str] | None:
        items: list[str] = []
        size = 0
        page_size = 1000
        last: str | None = None
        seen_pages: set[tuple[str, ...]] = set()
        for _ in range(MAX_PAGES):
            params = {"n": str(page_size)} | ({"last": last} if last else {})
            url = self._url(path).copy_merge_params(params)
            reply = await self.fetch("GET", url, cap=PAGE_CAP, scopes=scopes)
            if reply.status in (400, 405, 413) and page_size == 1000 and not items:
                page_size = 100  # ECR (>1000), Quay (>100) reject big pages
                continue
            if reply.status == 404 and not items:
                return None
            if reply.status != 200:
                raise self.failure(reply)
            size += len(reply.body)
            try:
                data = json.loads(reply.body)
            except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
                raise Failure(Status.REGISTRY_ERROR, f"{self.endpoint.host} sent a malformed {key} list") from None
            page = data.get(key) if isinstance(data, dict) else None
            if page is None:
                page = []  # "tags": null means no tags
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise Failure(Status.REGISTRY_ERROR, f"{self.endpoint.host} sent a malformed {key} list")
            signature = tuple(page)
            valid = [t for t in page if (is_tag(t) if key == "tags" else is_repository_path(t))]
            if len(valid) != len(page):  # never shown, suggested or written into a fix
                log.debug(
                    "%s: dropped %d %s that the reference grammar does not allow",
                    safe_url(reply.url),
                    len(page) - len(valid),
                    key,
                )
            if not page or signature in seen_pages:
                break
            seen_pages.add(signature)
            items.extend(valid[: LIST_ITEMS_CAP - len(items)])
            nxt = self._next_page(reply)
            if nxt is None or size > LIST_TOTAL_CAP or len(items) >= LIST_ITEMS_CAP:
                if nxt is not None:
                    log.debug("%s: %s list cut at %d entries", self.endpoint.host, key, len(items))
                break
            last = nxt
        return items

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

    # ------------------------------------------------------------ classification
    def failure(self, reply: Reply) -> Failure:
        host = self.endpoint.host
        status = reply.status
        outcome = reply.outcome or AuthOutcome()
        cred = self.credential if self.sent_credentials else None
        src = f" (from {cred.source})" if cred is not None else ""
        if outcome.token_status is not None:
            realm = outcome.realm_host or host
            if cred is not None:
                return Failure(
                    Status.AUTH_FAILED,
                    f"the token service {realm} rejected the credentials for {host}{src} (HTTP {outcome.token_status})",
                )
            return Failure(
                Status.REPO_MISSING_OR_PRIVATE,
                f"the token service {realm} refused an anonymous "
                f"token (HTTP {outcome.token_status}): the repository does not exist, or it is private",
            )
        if outcome.token_problem:
            return Failure(Status.REGISTRY_ERROR, outcome.token_problem)
        if status == 401:
            ch = outcome.challenge
            if outcome.unsupported and ch is None:
                return Failure(
                    Status.REGISTRY_ERROR,
                    f"{host} asks for an unsupported authentication scheme ({clean(outcome.unsupported, 40)})",
                )
            if ch is not None and ch.scheme == "bearer":
                if ch.error == "invalid_token" and cred is not None:
                    return Failure(Status.AUTH_FAILED, f"{host} rejected the token issued for the credentials{src}")
                if cred is not None:
                    return Failure(
                        Status.REPO_MISSING_OR_PRIVATE,
                        f"{host} denies access: the repository does not "
                        f"exist, or the credentials{src} have no pull access",
                    )
                return Failure(
                    Status.REPO_MISSING_OR_PRIVATE,
                    f"{host} denies anonymous access: the repository "
                    "does not exist, or it is private (log in to check)",
                )
            if cred is not None:
                return Failure(Status.AUTH_FAILED, f"{host} rejected the credentials{src}")
            return Failure(Status.AUTH_REQUIRED, f"{host} requires credentials and none are configured for it")
        if status == 403:
            if cred is not None:
                return Failure(
                    Status.AUTH_FAILED,
                    f"{host} denied access with the credentials{src}: no pull "
                    f"rights, or they expired ({error_summary(reply)})",
                )
            return Failure(
                Status.REPO_MISSING_OR_PRIVATE,
                f"{host} denied anonymous access ({error_summary(reply)}): "
                "the repository does not exist, or it is private",
            )
        if status == 429:
            wait = parse_retry_after(reply.headers.get("retry-after"))
            extra = ""
            if self.ratelimit is not None or "ratelimit-limit" in reply.headers:
                extra = (
                    f"; Docker Hub pulls remaining {self.ratelimit if self.ratelimit is not None else 0} of "
                    f"{clean(reply.headers.get('ratelimit-limit', '?').split(';')[0], 10)}; log in to raise "
                    "the limit"
                )
            after = f"; retry after {wait:.0f} s" if wait is not None else ""
            return Failure(Status.RATE_LIMITED, f"HTTP 429 Too Many Requests{after}{extra}", retry_after=wait)
        proxy = self.run.proxied(reply.url) if self.run.proxied else None
        if proxy and ("x-squid-error" in reply.headers or "proxy-status" in reply.headers):
            return Failure(Status.PROXY, f"the proxy answered HTTP {status} for {host}; check HTTPS_PROXY and NO_PROXY")
        if status == 400 and reply.url.scheme == "http":  # Go: "Client sent an HTTP request to an HTTPS server."
            return Failure(
                Status.TLS,
                f"{host} answered HTTP 400 to plain HTTP: it probably serves HTTPS; set an "
                "https:// endpoint (and ca_file) for it, or --strict-loopback for a local registry",
            )
        return Failure(Status.REGISTRY_ERROR, f"{host} answered {error_summary(reply)}")


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


# ----------------------------------------------------------------- the lookup


@dataclass
class Found:
    digest: str | None = None
    media_type: str | None = None
    tag_digest: str | None = None
    children: tuple[str, ...] = ()
    tag_children: tuple[str, ...] = ()
    platforms: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)


async def probe(
    run: Run, endpoint: Endpoint, ref: ImageRef, platforms: frozenset[str], credential: Credential | None
) -> ImageFacts:
    """Everything preflight asks about ``ref`` on one endpoint, as facts (never raises for HTTP)."""
    repo = Repo(run, endpoint, ref.path, credential)
    base = ImageFacts(ref.canonical, Status.OK, endpoint.host)
    try:
        facts = await _probe(repo, ref, platforms, base)
    except Failure as f:
        facts = replace(base, status=f.status, detail=f.detail, retry_after=f.retry_after)
    except Unreachable as u:
        d = u.diagnosis
        facts = replace(base, status=d.status, host=d.host, detail=d.message)
    except DeadlineExceeded:
        facts = replace(base, status=Status.NOT_CHECKED, detail="the deadline passed before an answer")
    notes = tuple(dict.fromkeys((*facts.notes, *repo.notes)))
    return replace(
        facts,
        notes=notes,
        ratelimit_remaining=repo.ratelimit,
        credential_source=credential.source if (credential and repo.sent_credentials) else None,
    )


async def _probe(repo: Repo, ref: ImageRef, platforms: frozenset[str], base: ImageFacts) -> ImageFacts:
    found = Found()
    shown = ref.familiar_name
    reference = ref.digest or ref.effective_tag or "latest"
    # Existence is a HEAD (free on Docker Hub). When platforms are asked for, the manifest is needed
    # anyway: one GET answers both questions and saves a round trip.
    first = await (repo.get_manifest(reference) if platforms else repo.head_manifest(reference))
    if first.status == 404:
        tags = await repo.list_tags()
        if tags is None:
            return await _repo_missing(repo, ref, base)
        if ref.digest is not None:
            return replace(base, status=Status.DIGEST_MISSING, detail=f"digest {ref.digest} not found in {shown}")
        return replace(
            base,
            status=Status.TAG_MISSING,
            detail=f"tag {reference!r} not found in {shown}",
            suggestions=near_matches(reference, tags),
        )
    _require_ok(repo, first)
    found.media_type = first.media_type or None
    found.digest = ref.digest or first.digest
    if ref.digest is not None and ref.tag is not None:
        await _compare_tag(repo, ref, found)
    if platforms:
        await _platforms(repo, reference, found, verify=ref.digest, header_digest=first.digest, body=first.body)
    elif found.digest is None:  # an old registry without Docker-Content-Digest: hash the body
        await _platforms(repo, reference, found, verify=None, want=False)
    elif ref.digest is not None and first.digest not in (None, ref.digest):
        # The registry names other content for a pinned digest: the body decides, as it does for a pull.
        await _platforms(repo, reference, found, verify=ref.digest, header_digest=first.digest, want=False)
    if found.media_type in SCHEMA1:
        found.notes.append(f"{ref.familiar} is a deprecated schema1 image; current Docker versions refuse it")
    return replace(
        base,
        digest=found.digest,
        media_type=found.media_type,
        tag_digest=found.tag_digest,
        children=found.children,
        tag_children=found.tag_children,
        platforms=found.platforms,
        notes=tuple(found.notes),
    )


def _require_ok(repo: Repo, head: Reply) -> None:
    if head.status != 200:
        raise repo.failure(head)
    if head.media_type.startswith("text/html"):
        raise Failure(
            Status.REGISTRY_ERROR,
            f"{repo.endpoint.host} answered with an HTML page, not the registry API (a login portal or a proxy?)",
        )


async def _repo_missing(repo: Repo, ref: ImageRef, base: ImageFacts) -> ImageFacts:
    suggestions: tuple[str, ...] = ()
    if not is_docker_hub(repo.endpoint.host):
        suggestions = near_matches(ref.path, await repo.catalog())
    return replace(
        base, status=Status.REPO_MISSING, detail=f"repository {ref.familiar_name} not found", suggestions=suggestions
    )


async def _compare_tag(repo: Repo, ref: ImageRef, found: Found) -> None:
    assert ref.tag is not None and ref.digest is not None
    head = await repo.head_manifest(ref.tag)
    if head.status == 404:
        found.notes.append(f"tag {ref.tag!r} no longer exists in {ref.familiar_name}; the pinned digest does")
        return
    if head.status != 200:
        return  # the digest answered; a tag problem here is only informational
    tag_digest = head.digest
    if tag_digest is None:
        body = await _manifest_body(repo, ref.tag, None)
        tag_digest = sha256_digest(body)
    found.tag_digest = tag_digest
    if tag_digest != ref.digest and head.media_type in INDEX_TYPES:
        body = await _manifest_body(repo, tag_digest, tag_digest)
        found.tag_children = tuple(e["digest"] for e in _index_entries(_json(repo, body)) if is_digest(e.get("digest")))


async def _manifest_body(repo: Repo, reference: str, verify: str | None) -> bytes:
    reply = await repo.get_manifest(reference)
    if reply.status != 200:
        raise repo.failure(reply)
    if verify is not None and sha256_digest(reply.body) != verify:
        raise Failure(
            Status.REGISTRY_ERROR, f"{repo.endpoint.host} sent a manifest whose sha256 does not match {verify}"
        )
    return reply.body


def _json(repo: Repo, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        data = None
    if not isinstance(data, dict):
        raise Failure(Status.REGISTRY_ERROR, f"{repo.endpoint.host} sent a manifest that is not a JSON object")
    return data


def _index_entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    entries = data.get("manifests")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _is_attestation(entry: dict[str, Any]) -> bool:
    ann = entry.get("annotations")
    if isinstance(ann, dict) and ann.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    plat = entry.get("platform")
    return isinstance(plat, dict) and plat.get("os") == "unknown" and plat.get("architecture") == "unknown"


def _platform_text(data: dict[str, Any]) -> str | None:
    os_name, arch = data.get("os"), data.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = data.get("variant")
    variant = variant if isinstance(variant, str) else ""
    if not all(_PLATFORM_PART.fullmatch(part) for part in (os_name, arch, variant or "x")):
        return None  # not a platform name: never shown
    text = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    return normalize_platform(text)


async def _platforms(
    repo: Repo,
    reference: str,
    found: Found,
    *,
    verify: str | None,
    header_digest: str | None = None,
    want: bool = True,
    body: bytes | None = None,
) -> None:
    """The manifest at ``reference`` (GET unless ``body`` is given): digest, children, platforms."""
    if body is None:
        body = await _manifest_body(repo, reference, verify)
    elif verify is not None and sha256_digest(body) != verify:
        raise Failure(
            Status.REGISTRY_ERROR, f"{repo.endpoint.host} sent a manifest whose sha256 does not match {verify}"
        )
    actual = sha256_digest(body)
    if header_digest is not None and header_digest != actual:
        found.notes.append(
            f"{repo.endpoint.host} sent a Docker-Content-Digest header that does not match "
            "the manifest; preflight used the manifest's own sha256"
        )
    if verify is None:
        found.digest = actual
    data = _json(repo, body)
    media = found.media_type or data.get("mediaType")
    if not isinstance(media, str):
        media = ""
    found.media_type = media or None
    if not want:
        return
    if media in INDEX_TYPES or (not media and "manifests" in data):
        plats: list[str] = []
        children: list[str] = []
        await _walk_index(repo, data, plats, children, depth=0)
        found.children = tuple(children)
        found.platforms = tuple(dict.fromkeys(plats))
    elif media in SCHEMA1:
        arch = data.get("architecture")
        found.platforms = (normalize_platform(f"linux/{arch}"),) if isinstance(arch, str) and arch else ()
    else:
        found.platforms = await _config_platform(repo, data)


async def _walk_index(repo: Repo, data: dict[str, Any], plats: list[str], children: list[str], depth: int) -> None:
    for entry in _index_entries(data):
        digest = entry.get("digest")
        if not is_digest(digest) or _is_attestation(entry):
            continue
        media = entry.get("mediaType")
        if media in INDEX_TYPES:
            if depth < 2:
                nested = await _manifest_body(repo, digest, digest)
                await _walk_index(repo, _json(repo, nested), plats, children, depth + 1)
            continue
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            continue
        text = _platform_text(platform)
        if text is not None:
            children.append(digest)
            plats.append(text)


async def _config_platform(repo: Repo, manifest: dict[str, Any]) -> tuple[str, ...]:
    config = manifest.get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if not is_digest(digest):
        raise Failure(
            Status.REGISTRY_ERROR, f"{repo.endpoint.host} sent an image manifest without a valid config digest"
        )
    reply = await repo.fetch("GET", f"/v2/{repo.path}/blobs/{digest}", cap=BLOB_CAP)
    if reply.status != 200:
        raise repo.failure(reply)
    if sha256_digest(reply.body) != digest:
        raise Failure(Status.REGISTRY_ERROR, f"{repo.endpoint.host} sent a config blob that does not match {digest}")
    try:
        data = json.loads(reply.body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        data = None
    text = _platform_text(data) if isinstance(data, dict) else None
    return (text,) if text else ()


async def probe_with_fallback(
    run: Run,
    endpoint: Endpoint,
    ref: ImageRef,
    platforms: frozenset[str],
    credential: Credential | None,
    credential_label: str,
) -> ImageFacts:
    """Probe; when stored credentials are rejected, try once anonymously (public images still pass)."""
    facts = await probe(run, endpoint, ref, platforms, credential)
    if credential is None or facts.status is not Status.AUTH_FAILED:
        return facts
    log.debug("%s: the credentials from %s were rejected; checking anonymously", ref.canonical, credential.source)
    anonymous = await probe(run, endpoint, ref, platforms, None)
    if (
        anonymous.status in (Status.AUTH_REQUIRED, Status.AUTH_FAILED, Status.REPO_MISSING_OR_PRIVATE)
        or anonymous.status.unreachable
    ):
        return facts
    note = (
        f"stored credentials for {credential_label} (from {credential.source}) were rejected; "
        f"the image is public and was checked anonymously"
    )
    return replace(anonymous, notes=(*anonymous.notes, note))
