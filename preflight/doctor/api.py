"""``preflight doctor``'s HTTP steps for one registry endpoint: ``GET /v2/`` (API version, the
authentication asked), the token (from the realm the registry names, if preflight may connect to it) and one
manifest ``HEAD``. A status or a silence is named: rate limit, outage, authentication, not found."""

from __future__ import annotations

import json

import httpx

from ..imageref import ImageRef
from ..registry import endpoints as ep
from ..registry.auth import basic_authorization
from ..registry.challenge import choose, parse_challenges
from ..registry.credentials import Credential
from ..registry.guard import Blocked, check_host
from ..registry.manifest import MANIFEST_ACCEPT
from .steps import Section, Stop, Timer

MAX_BODY = 64 * 1024


def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            break
    return bytes(body[:MAX_BODY])


def _realm_url(step: Timer, realm: str, registry_host: str) -> httpx.URL:
    """The token service a registry names, if preflight may connect to it (the registry client's
    guard: never a cloud metadata or link-local address)."""
    try:
        url = httpx.URL(realm)
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise step.fail("the registry named a token service that is not an http(s) URL", "authentication", "-")
    try:
        check_host(url.netloc.decode("ascii", "replace"), direct=False, registry_host=registry_host)
    except Blocked as exc:
        raise step.fail(str(exc), "blocked", "the registry's token service is refused; use another registry") from None
    return url


def _status_failure(step: Timer, what: str, status: int, host: str) -> Stop:
    if status == 429:
        return step.fail(
            f"{what}: HTTP 429 Too Many Requests", "rate limit", "authenticate (docker login) or use a mirror"
        )
    if status >= 500:
        return step.fail(f"{what}: HTTP {status}", "registry outage", "retry later; check the registry's status page")
    if status in (401, 403):
        return step.fail(
            f"{what}: HTTP {status}", "authentication", f"docker login {host}, or check the account's pull rights"
        )
    if status == 404:
        return step.fail(f"{what}: HTTP 404", "not found", "check the image name and tag (preflight check suggests)")
    return step.fail(f"{what}: HTTP {status}", "unexpected answer", "is this a registry (Distribution API v2)?")


def _no_answer(step: Timer, exc: httpx.HTTPError, client: httpx.Client, then: str) -> Stop:
    """A request that got no HTTP answer: a hung registry (connected, silent until ``--timeout``)
    is an outage; anything else is named by its type."""
    if isinstance(exc, httpx.TimeoutException):
        limit = client.timeout.read or 0
        return step.fail(
            f"connected, but no HTTP answer within {limit:g} s",
            "registry outage",
            "the registry (or something in front of it) accepts connections and does not answer: retry "
            "later; on a slow link, raise --timeout",
        )
    return step.fail(f"no HTTP answer ({type(exc).__name__})", "network", then)


def http_steps(
    section: Section, client: httpx.Client, endpoint: ep.Endpoint, ref: ImageRef, credential: Credential | None
) -> None:
    base = endpoint.base_url
    step = Timer(section, "GET /v2/")
    try:
        with client.stream("GET", f"{base}/v2/") as response:
            _read(response)
    except httpx.HTTPError as exc:
        raise _no_answer(step, exc, client, "see the steps above") from None
    api = response.headers.get("docker-distribution-api-version", "none")
    challenges = parse_challenges(response.headers.get_list("www-authenticate"))
    challenge = choose(challenges)
    if response.status_code not in (200, 401):
        raise _status_failure(step, "GET /v2/", response.status_code, endpoint.host)
    asked = f"; asks for {challenge.scheme} authentication" if challenge else ""
    step.ok(f"HTTP {response.status_code}, API version {api}{asked}")

    path = ref.path
    source = f"credentials from {credential.source}" if credential else "anonymous"
    headers: dict[str, str] = {}
    if challenge is not None and challenge.scheme == "bearer":
        step = Timer(section, "token")
        params = {"service": challenge.params.get("service", ""), "scope": f"repository:{path}:pull"}
        realm = _realm_url(step, challenge.realm, endpoint.host)
        auth = (credential.username, credential.secret) if credential and credential.kind == "basic" else None
        if auth is not None and not ep.may_carry_credentials(realm):
            raise step.fail(
                f"the token service {realm.scheme}://{realm.netloc.decode('ascii', 'replace')} is plain HTTP and not "
                "this machine: the password is not sent",
                "authentication",
                "the registry should name an https:// token service",
            )
        try:
            with client.stream("GET", realm, params=params, auth=auth) as answer:
                body = _read(answer)
        except (httpx.HTTPError, ValueError) as exc:
            raise step.fail(
                f"token service {challenge.realm[:100]} did not answer ({type(exc).__name__})",
                "authentication",
                "check that the token service is reachable (it may be another host)",
            ) from None
        if answer.status_code != 200:
            raise _status_failure(step, f"token service ({source})", answer.status_code, endpoint.host)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise step.fail("the token service answered without a token", "authentication", "check the token service")
        headers["Authorization"] = f"Bearer {token}"
        step.ok(f"realm {httpx.URL(challenge.realm).host}, service {params['service'] or '-'}, {source}")
    elif challenge is not None and credential is not None and credential.kind == "basic":
        Timer(section, "credentials").ok(f"basic authentication with {source}")
    elif challenge is not None:
        Timer(section, "credentials").ok("basic authentication asked; none configured (anonymous)")
    step = Timer(section, "manifest HEAD")
    reference = ref.digest or ref.effective_tag or "latest"
    if (
        challenge is not None
        and challenge.scheme == "basic"
        and credential is not None
        and credential.kind == "basic"
        and ep.may_carry_credentials(httpx.URL(base))
    ):
        headers["Authorization"] = basic_authorization(credential.username, credential.secret)
    try:
        answer = client.head(f"{base}/v2/{path}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT, **headers})
    except httpx.HTTPError as exc:
        raise _no_answer(step, exc, client, "retry; see the steps above") from None
    if answer.status_code != 200:
        raise _status_failure(step, f"{path}:{reference} ({source})", answer.status_code, endpoint.host)
    digest = answer.headers.get("docker-content-digest", "no digest header")
    step.ok(f"{path}:{reference}: HTTP 200, {digest}, {answer.headers.get('content-type', '?')}")
