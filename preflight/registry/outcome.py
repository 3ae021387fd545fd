"""What an HTTP answer means (pure): an ``HttpOutcome`` in, a ``Failure`` (``facts.Status`` + message) out.

``classify`` is the whole table of how a registry says "no": token service refusals, 401 with and
without a challenge, 403, 429 with Docker Hub's rate-limit headers, a proxy's own error page, plain
HTTP sent to an HTTPS port, anything else. It reads only its argument (no request, no clock
unless ``Retry-After`` is an HTTP date), so ``tests/test_registry_outcome.py`` checks it row by row.
Callers decide what a 404 means (tag, repository or digest missing) because that takes more
requests; ``classify`` gets the answers that end a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..facts import Status
from .auth import AuthOutcome
from .manifest import as_json
from .network import parse_retry_after

_UNSAFE = re.compile(r"[^\x20-\x7e]+")


class Failure(Exception):
    """The lookup ends with this status; ``detail`` is safe to show."""

    def __init__(self, status: Status, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class Request(Enum):
    """Which request an answer is to (vendors answer the same case differently per request)."""

    MANIFEST = "manifest"
    TAGS = "tags"
    CATALOG = "catalog"
    BLOB = "blob"


@dataclass(frozen=True)
class HttpOutcome:
    """One answer that ends a lookup, with what the run knew when it came."""

    host: str  # the endpoint's host[:port], as messages name it
    status: int
    request: Request = Request.MANIFEST
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names (httpx.Headers is fine)
    error_code: str = ""  # the first ``errors[].code`` of the body, cleaned
    error_message: str = ""  # its ``message``, cleaned
    auth: AuthOutcome = field(default_factory=AuthOutcome)
    credential_source: str | None = None  # where the credentials came from, when they were sent
    plain_http: bool = False  # the answer came over http://
    proxied: bool = False  # a proxy carried the request
    ratelimit: int | None = None  # the lowest ratelimit-remaining this repository's answers carried


def clean(text: Any, limit: int = 200) -> str:
    """A server-supplied string made safe to show: printable ASCII, one line, at most ``limit``."""
    out = " ".join(_UNSAFE.sub(" ", str(text)).split())
    return out if len(out) <= limit else out[: limit - 3] + "..."


def error_fields(body: bytes) -> tuple[str, str]:
    """(code, message) of the first entry of a registry error body, cleaned; empty when absent."""
    data = as_json(body) if body else None
    if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
        first = data["errors"][0]
        if isinstance(first, dict):
            return clean(first.get("code", ""), 40), clean(first.get("message", ""), 120)
    return "", ""


def error_summary(o: HttpOutcome) -> str:
    """``HTTP 500 (UNKNOWN: unknown error)``: status, first error code, clean message."""
    inner = ": ".join(p for p in (o.error_code, o.error_message) if p)
    return f"HTTP {o.status}" + (f" ({inner})" if inner else "")


def classify(o: HttpOutcome, now: float | None = None) -> Failure:
    """The status and message for an answer that ends a lookup (``now``: for a dated ``Retry-After``)."""
    for step in (_token_service, _unauthorized, _forbidden):
        failure = step(o)
        if failure is not None:
            return failure
    if o.status == 429:
        return _rate_limited(o, now)
    return _other(o)


def _token_service(o: HttpOutcome) -> Failure | None:
    auth, src = o.auth, _source(o)
    if auth.token_status is not None:
        realm = auth.realm_host or o.host
        if o.credential_source is not None:
            return Failure(
                Status.AUTH_FAILED,
                f"the token service {realm} rejected the credentials for {o.host}{src} (HTTP {auth.token_status})",
            )
        return Failure(
            Status.REPO_MISSING_OR_PRIVATE,
            f"the token service {realm} refused an anonymous "
            f"token (HTTP {auth.token_status}): the repository does not exist, or it is private",
        )
    if auth.token_problem:
        return Failure(Status.REGISTRY_ERROR, auth.token_problem)
    return None


def _unauthorized(o: HttpOutcome) -> Failure | None:
    if o.status != 401:
        return None
    host, src, ch = o.host, _source(o), o.auth.challenge
    if o.auth.unsupported and ch is None:
        return Failure(
            Status.REGISTRY_ERROR,
            f"{host} asks for an unsupported authentication scheme ({clean(o.auth.unsupported, 40)})",
        )
    if ch is not None and ch.scheme == "bearer":
        if o.credential_source is None:
            return Failure(
                Status.REPO_MISSING_OR_PRIVATE,
                f"{host} denies anonymous access: the repository does not exist, or it is private (log in to check)",
            )
        if ch.error == "invalid_token":
            return Failure(Status.AUTH_FAILED, f"{host} rejected the token issued for the credentials{src}")
        return Failure(
            Status.REPO_MISSING_OR_PRIVATE,
            f"{host} denies access: the repository does not exist, or the credentials{src} have no pull access",
        )
    if o.credential_source is not None:
        return Failure(Status.AUTH_FAILED, f"{host} rejected the credentials{src}")
    return Failure(Status.AUTH_REQUIRED, f"{host} requires credentials and none are configured for it")


def _forbidden(o: HttpOutcome) -> Failure | None:
    if o.status != 403:
        return None
    if o.credential_source is not None and o.auth.token_for_credentials:
        # the token service accepted the credentials: Artifact Registry ("... denied on resource (or it
        # may not exist)") and GitLab answer 403 for a repository that is missing or not theirs
        return Failure(
            Status.REPO_MISSING_OR_PRIVATE,
            f"{o.host} denied access ({error_summary(o)}): the repository does not exist, "
            f"or the credentials{_source(o)} have no pull access",
        )
    if o.credential_source is not None:
        return Failure(
            Status.AUTH_FAILED,
            f"{o.host} denied access with the credentials{_source(o)}: no pull "
            f"rights, or they expired ({error_summary(o)})",
        )
    return Failure(
        Status.REPO_MISSING_OR_PRIVATE,
        f"{o.host} denied anonymous access ({error_summary(o)}): the repository does not exist, or it is private",
    )


def _rate_limited(o: HttpOutcome, now: float | None) -> Failure:
    wait = parse_retry_after(o.headers.get("retry-after"), now)
    extra = ""
    if o.ratelimit is not None or "ratelimit-limit" in o.headers:
        limit = clean(o.headers.get("ratelimit-limit", "?").split(";")[0], 10)
        extra = (
            f"; Docker Hub pulls remaining {o.ratelimit if o.ratelimit is not None else 0} of "
            f"{limit}; log in to raise the limit"
        )
    after = f"; retry after {wait:.0f} s" if wait is not None else ""
    return Failure(Status.RATE_LIMITED, f"HTTP 429 Too Many Requests{after}{extra}", retry_after=wait)


def _other(o: HttpOutcome) -> Failure:
    if o.proxied and ("x-squid-error" in o.headers or "proxy-status" in o.headers):
        return Failure(Status.PROXY, f"the proxy answered HTTP {o.status} for {o.host}; check HTTPS_PROXY and NO_PROXY")
    if o.status == 400 and o.plain_http:  # Go: "Client sent an HTTP request to an HTTPS server."
        return Failure(
            Status.TLS,
            f"{o.host} answered HTTP 400 to plain HTTP: it probably serves HTTPS; set an "
            "https:// endpoint (and ca_file) for it, or --strict-loopback for a local registry",
        )
    return Failure(Status.REGISTRY_ERROR, f"{o.host} answered {error_summary(o)}")


def _source(o: HttpOutcome) -> str:
    return f" (from {o.credential_source})" if o.credential_source is not None else ""
