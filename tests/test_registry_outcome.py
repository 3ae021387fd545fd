"""``outcome.classify``: every way a registry answer ends a lookup, one row each (pure: no requests)."""

from __future__ import annotations

from typing import NamedTuple

import httpx
import pytest

from preflight.facts import Status
from preflight.registry.auth import AuthOutcome
from preflight.registry.challenge import Challenge
from preflight.registry.outcome import HttpOutcome, Request, classify, clean, error_fields

H = "reg.example.com"
BEARER = Challenge("bearer", {"realm": "https://auth.example.com/token"})
INVALID_TOKEN = Challenge("bearer", {"realm": "https://auth.example.com/token", "error": "invalid_token"})
BASIC = Challenge("basic", {"realm": "reg"})


class Row(NamedTuple):
    outcome: HttpOutcome
    status: Status
    detail: str
    retry_after: float | None = None


def o(status: int, **kw: object) -> HttpOutcome:
    return HttpOutcome(host=H, status=status, **kw)  # type: ignore[arg-type]


ROWS: dict[str, Row] = {
    # the token service refused or failed: its answer, not the registry's
    "token refused, credentials sent": Row(
        o(401, auth=AuthOutcome(token_status=401, realm_host="auth.example.com"), credential_source="config.json"),
        Status.AUTH_FAILED,
        f"the token service auth.example.com rejected the credentials for {H} (from config.json) (HTTP 401)",
    ),
    "token refused, anonymous": Row(
        o(401, auth=AuthOutcome(token_status=403, realm_host="auth.example.com")),
        Status.REPO_MISSING_OR_PRIVATE,
        "the token service auth.example.com refused an anonymous token (HTTP 403): the repository "
        "does not exist, or it is private",
    ),
    "token refused, realm unknown": Row(
        o(401, auth=AuthOutcome(token_status=404)),
        Status.REPO_MISSING_OR_PRIVATE,
        f"the token service {H} refused an anonymous token (HTTP 404): the repository does not exist, or it is private",
    ),
    "token answer malformed": Row(
        o(200, auth=AuthOutcome(token_problem="the token service sent no token")),
        Status.REGISTRY_ERROR,
        "the token service sent no token",
    ),
    # 401
    "401 unsupported scheme": Row(
        o(401, auth=AuthOutcome(unsupported="Negotiate")),
        Status.REGISTRY_ERROR,
        f"{H} asks for an unsupported authentication scheme (Negotiate)",
    ),
    "401 bearer, anonymous": Row(
        o(401, auth=AuthOutcome(challenge=BEARER)),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denies anonymous access: the repository does not exist, or it is private (log in to check)",
    ),
    "401 bearer invalid_token, anonymous": Row(
        o(401, auth=AuthOutcome(challenge=INVALID_TOKEN)),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denies anonymous access: the repository does not exist, or it is private (log in to check)",
    ),
    "401 bearer invalid_token, credentials": Row(
        o(401, auth=AuthOutcome(challenge=INVALID_TOKEN), credential_source="helper"),
        Status.AUTH_FAILED,
        f"{H} rejected the token issued for the credentials (from helper)",
    ),
    "401 bearer, credentials without pull rights": Row(
        o(401, auth=AuthOutcome(challenge=BEARER), credential_source="helper"),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denies access: the repository does not exist, or the credentials (from helper) have no pull access",
    ),
    "401 basic, credentials": Row(
        o(401, auth=AuthOutcome(challenge=BASIC), credential_source="config.json"),
        Status.AUTH_FAILED,
        f"{H} rejected the credentials (from config.json)",
    ),
    "401 basic, anonymous": Row(
        o(401, auth=AuthOutcome(challenge=BASIC)),
        Status.AUTH_REQUIRED,
        f"{H} requires credentials and none are configured for it",
    ),
    "401 without a challenge (GHCR-style DENIED)": Row(
        o(401, error_code="DENIED", error_message="denied"),
        Status.AUTH_REQUIRED,
        f"{H} requires credentials and none are configured for it",
    ),
    "401 unsupported beside a bearer challenge": Row(
        o(401, auth=AuthOutcome(challenge=BEARER, unsupported="Negotiate")),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denies anonymous access: the repository does not exist, or it is private (log in to check)",
    ),
    # 403
    "403 anonymous": Row(
        o(403, error_code="DENIED", error_message="requested access to the resource is denied"),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denied anonymous access (HTTP 403 (DENIED: requested access to the resource is denied)): "
        "the repository does not exist, or it is private",
    ),
    "403 credentials": Row(
        o(403, credential_source="helper"),
        Status.AUTH_FAILED,
        f"{H} denied access with the credentials (from helper): no pull rights, or they expired (HTTP 403)",
    ),
    # Artifact Registry, GitLab: a token was issued for the credentials, then the registry says 403
    "403 after a token for the credentials": Row(
        o(403, credential_source="helper", auth=AuthOutcome(token_for_credentials=True)),
        Status.REPO_MISSING_OR_PRIVATE,
        f"{H} denied access (HTTP 403): the repository does not exist, or the credentials (from helper) "
        "have no pull access",
    ),
    # 429
    "429 with Retry-After": Row(
        o(429, headers={"retry-after": "30"}),
        Status.RATE_LIMITED,
        "HTTP 429 Too Many Requests; retry after 30 s",
        30.0,
    ),
    "429 Docker Hub headers": Row(
        o(429, headers=httpx.Headers({"RateLimit-Limit": "100;w=21600"}), ratelimit=0),
        Status.RATE_LIMITED,
        "HTTP 429 Too Many Requests; Docker Hub pulls remaining 0 of 100; log in to raise the limit",
    ),
    "429 remaining seen earlier, no limit header": Row(
        o(429, ratelimit=3),
        Status.RATE_LIMITED,
        "HTTP 429 Too Many Requests; Docker Hub pulls remaining 3 of ?; log in to raise the limit",
    ),
    # proxies, wrong scheme, anything else
    "proxy error page": Row(
        o(502, headers={"x-squid-error": "ERR_CONNECT_FAIL 111"}, proxied=True),
        Status.PROXY,
        f"the proxy answered HTTP 502 for {H}; check HTTPS_PROXY and NO_PROXY",
    ),
    "proxy-status without a proxy is the registry's": Row(
        o(502, headers={"proxy-status": "x"}),
        Status.REGISTRY_ERROR,
        f"{H} answered HTTP 502",
    ),
    "400 to plain HTTP": Row(
        o(400, plain_http=True),
        Status.TLS,
        f"{H} answered HTTP 400 to plain HTTP: it probably serves HTTPS; set an https:// endpoint "
        "(and ca_file) for it, or --strict-loopback for a local registry",
    ),
    "400 over HTTPS": Row(o(400), Status.REGISTRY_ERROR, f"{H} answered HTTP 400"),
    "500 with an error body": Row(
        o(500, error_code="UNKNOWN", error_message="unknown error"),
        Status.REGISTRY_ERROR,
        f"{H} answered HTTP 500 (UNKNOWN: unknown error)",
    ),
    "404 of a blob": Row(
        o(404, request=Request.BLOB, error_code="BLOB_UNKNOWN", error_message="blob unknown to registry"),
        Status.REGISTRY_ERROR,
        f"{H} answered HTTP 404 (BLOB_UNKNOWN: blob unknown to registry)",
    ),
    "503 of a tag listing": Row(o(503, request=Request.TAGS), Status.REGISTRY_ERROR, f"{H} answered HTTP 503"),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_classify_table(name: str) -> None:
    row = ROWS[name]
    failure = classify(row.outcome)
    assert (failure.status, failure.detail, failure.retry_after) == (row.status, row.detail, row.retry_after)


def test_dated_retry_after_uses_the_given_time() -> None:
    failure = classify(o(429, headers={"retry-after": "Thu, 01 Jan 1970 00:01:40 GMT"}), now=40.0)
    assert failure.retry_after == 60.0 and "retry after 60 s" in failure.detail


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"", ("", "")),
        (b"not json", ("", "")),
        (b"null", ("", "")),
        (b'{"errors": []}', ("", "")),
        (b'{"errors": ["x"]}', ("", "")),
        (
            b'{"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}',
            ("NAME_UNKNOWN", "repository name not known"),
        ),
        (b'{"errors": [{"code": "X\\u001b[31m", "message": "a\\nb"}]}', ("X [31m", "a b")),
        (b"[" * 100_000, ("", "")),
    ],
)
def test_error_fields(body: bytes, fields: tuple[str, str]) -> None:
    assert error_fields(body) == fields


def test_clean_bounds_and_flattens() -> None:
    assert clean("a\x00b\n  c", 200) == "a b c"
    assert clean("x" * 300, 10) == "xxxxxxx..."
