"""Registry authentication as an ``httpx.Auth`` flow: Basic and Bearer challenges, token cache.

``RegistryAuth.auth_flow`` is a generator: it sends the request, reads a 401's
``WWW-Authenticate`` (parsed by ``challenge``), fetches a token
from the realm (anonymously, with Basic credentials, or by POSTing an identity token with a GET
fallback on 404), and retries once. Tokens are cached per (realm, service, scopes, credential
identity) until ``expires_in`` (default 60 s) minus 15 s; a 401 with a cached token drops it
and refetches once. What happened is recorded in ``AuthOutcome`` for the client to classify.

Credentials go only to the registry host and to the realm named by that registry's own
challenge, and to a plain-HTTP realm only when the registry itself is insecure or loopback.
Over plain HTTP they go to loopback hosts only: an ``http://`` registry or realm elsewhere is
asked without them (with a warning).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from .body import EXT_BODY_CAP
from .challenge import Challenge, choose, parse_challenges, split_scope
from .credentials import Credential
from .endpoints import may_carry_credentials
from .transport import EXT_REGISTRY

EXT_TOKEN = "preflight_token"  # request extension: the token cache key a token-endpoint request is for
EXT_SHARED = "preflight_shared_token"  # response extension: a token another flow just fetched
TOKEN_BODY_CAP = 64 * 1024
log = logging.getLogger("preflight.registry")
DEFAULT_EXPIRES = 60
EXPIRY_MARGIN = 15.0


# ----------------------------------------------------------------- shared state


class TokenKey(NamedTuple):
    """What a cached token is for: one realm, service, scope set and credential identity."""

    realm: str
    service: str
    scopes: tuple[str, ...]  # sorted
    identity: str  # the credential's identity, or "anonymous"


@dataclass
class Token:
    value: str
    expires_at: float


@dataclass
class AuthState:
    """Per-run state shared by every flow: tokens and the last challenge seen per registry
    ``host[:port]`` (two registries on one host are two registries: never share a challenge)."""

    clock: Callable[[], float] = time.monotonic
    tokens: dict[TokenKey, Token] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)
    inflight: dict[TokenKey, asyncio.Event] = field(default_factory=dict)  # token requests under way

    def get(self, key: TokenKey) -> str | None:
        token = self.tokens.get(key)
        if token is None:
            return None
        if token.expires_at <= self.clock():
            del self.tokens[key]
            return None
        return token.value

    def put(self, key: TokenKey, value: str, expires_in: float) -> None:
        self.tokens[key] = Token(value, self.clock() + max(expires_in, DEFAULT_EXPIRES) - EXPIRY_MARGIN)

    def drop(self, key: TokenKey) -> None:
        self.tokens.pop(key, None)


@dataclass
class AuthOutcome:
    """What the flow saw; the client turns it into a status."""

    sent_credentials: bool = False
    token_status: int | None = None  # realm's status when it refused a token
    token_problem: str | None = None  # malformed token answer, unusable realm, ...
    challenge: Challenge | None = None  # the last challenge from the registry
    unsupported: str | None = None  # scheme(s) offered that preflight cannot answer
    realm_host: str | None = None
    # a token service issued a token for the credentials (they are valid; a 403 after it is about access)
    token_for_credentials: bool = False
    notes: list[str] = field(default_factory=list)


def basic_authorization(username: str, secret: str) -> str:
    raw = f"{username}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class RegistryAuth(httpx.Auth):
    """One flow per repository lookup; ``state`` is shared for the whole run."""

    def __init__(
        self,
        state: AuthState,
        *,
        registry_host: str,
        registry_netloc: str | None = None,
        scopes: tuple[str, ...],
        credential: Credential | None,
        insecure: bool = False,
    ) -> None:
        self.state = state
        self.registry_host = registry_host  # bare host of the registry endpoint
        self.registry_netloc = registry_netloc or registry_host  # host[:port], for the address guard
        self.scopes = scopes
        self.credential = credential
        self.insecure = insecure  # registry reached over plain HTTP (loopback / insecure)
        self.outcome = AuthOutcome()

    # ---------------------------------------------------------------- httpx hooks
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        nxt = next(flow)
        while True:
            response = yield nxt
            if nxt.extensions.get(EXT_TOKEN):
                response.read()
            try:
                nxt = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Drives ``auth_flow``; concurrent flows needing the same token share one token request."""
        flow = self.auth_flow(request)
        nxt = next(flow)
        response: httpx.Response | None = None
        while True:
            key = nxt.extensions.get(EXT_TOKEN)
            if key is None:
                response = yield nxt
            else:
                if response is not None:
                    # httpx reads the 401 after this step anyway; read it before waiting for another
                    # flow's token, so its per-host slot is free for that token request (same host: Quay, Harbor)
                    await response.aread()
                shared = await self._shared_token(key)
                if shared is not None:
                    response = httpx.Response(200, request=nxt, extensions={EXT_SHARED: shared})
                else:
                    done = self.state.inflight[key] = asyncio.Event()
                    try:
                        response = yield nxt
                        # token bodies only, decoded under TOKEN_BODY_CAP by the transport (body.py)
                        await response.aread()
                    finally:
                        done.set()
                        self.state.inflight.pop(key, None)
            try:
                nxt = flow.send(response)
            except StopIteration:
                return

    async def _shared_token(self, key: TokenKey) -> str | None:
        pending = self.state.inflight.get(key)
        if pending is None:
            return None
        await pending.wait()
        return self.state.get(key)

    # ---------------------------------------------------------------- the flow
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.host != self.registry_host:
            yield request  # credentials belong to the registry host only
            return
        if self.credential is not None and not may_carry_credentials(request.url):
            self._withheld(request.url)
            self.credential = None  # this flow serves one request: it goes without credentials
        cred = self.credential
        if cred is not None and cred.kind == "registry_token":
            request.headers["Authorization"] = f"Bearer {cred.secret}"
            self.outcome.sent_credentials = True
            response = yield request
            self._note_challenge(response)
            return
        used: tuple[TokenKey, bool] | None = None  # (token cache key, taken from the cache?)
        known = self.state.challenges.get(self.registry_netloc)
        if known is not None:  # this host challenged before: authorize up front, saving a 401
            used = yield from self._authorize(request, known)
            if self.outcome.token_status is not None or self.outcome.token_problem is not None:
                return  # the realm refused: its answer is the final response
        for _ in range(2):
            response = yield request
            if response.status_code != 401:
                return
            challenges = parse_challenges(response.headers.get_list("www-authenticate"))
            chosen = choose(challenges)
            self.outcome.challenge = chosen
            if chosen is None:
                if challenges:
                    self.outcome.unsupported = ", ".join(sorted({c.scheme for c in challenges}))
                return
            refetch = False
            if chosen.scheme == "basic":
                if cred is None or "Authorization" in request.headers:
                    return  # nothing (more) to offer
            elif used is not None:
                key, from_cache = used
                if not from_cache or chosen.error == "insufficient_scope":
                    return  # a fresh token was refused, or a valid one lacks access: asking again won't help
                self.state.drop(key)  # a cached token went stale or was revoked: drop it, fetch once more
                log.debug("%s rejected a cached token; fetching a new one", self.registry_netloc)
                refetch = True
            self.state.challenges[self.registry_netloc] = chosen
            request.headers.pop("Authorization", None)
            used = yield from self._authorize(request, chosen, fresh=True, refetch=refetch)
            if "Authorization" not in request.headers:
                return  # no token: the realm's answer is the final response
        response = yield request
        self._note_challenge(response)

    def _withheld(self, url: httpx.URL) -> None:
        note = (
            f"the credentials for {self.registry_netloc} were not sent: {url.netloc.decode('ascii', 'replace')} "
            "is plain HTTP and not this machine"
        )
        if note not in self.outcome.notes:
            self.outcome.notes.append(note)
        log.debug("%s", note)

    def _note_challenge(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            self.outcome.challenge = choose(parse_challenges(response.headers.get_list("www-authenticate")))

    def _authorize(
        self, request: httpx.Request, challenge: Challenge, *, fresh: bool = False, refetch: bool = False
    ) -> Generator[httpx.Request, httpx.Response, tuple[TokenKey, bool] | None]:
        """Set ``Authorization`` for ``challenge``; returns (token cache key, from cache?) when a token was set."""
        cred = self.credential
        if challenge.scheme == "basic":
            if cred is not None:
                request.headers["Authorization"] = basic_authorization(cred.username, cred.secret)
                self.outcome.sent_credentials = True
            return None
        realm = challenge.realm
        try:
            realm_url = httpx.URL(realm)
        except Exception:
            realm_url = None
        if realm_url is None or realm_url.scheme not in ("http", "https") or not realm_url.host:
            self.outcome.token_problem = "the registry's Bearer challenge has no usable realm URL"
            return None
        self.outcome.realm_host = realm_url.netloc.decode("ascii", "replace")
        scopes = list(self.scopes)
        if fresh:  # a scope the registry names for this very request goes first
            offered = [s for s in challenge.params.get("scope", "").split(" ") if split_scope(s)]
            scopes = [s for s in offered if s not in scopes] + scopes
        service = challenge.params.get("service", "")
        if realm_url.scheme != "https" and not self.insecure:
            self.outcome.token_problem = (
                f"the token service of {self.registry_netloc} is plain HTTP "
                f"({self.outcome.realm_host}); preflight asks for tokens over HTTPS only"
            )
            log.debug("%s: %s", self.registry_netloc, self.outcome.token_problem)
            return None
        send_cred = cred
        if cred is not None and not may_carry_credentials(realm_url):
            self._withheld(realm_url)
            send_cred = None
        identity = send_cred.identity if send_cred is not None else "anonymous"
        key = TokenKey(realm, service, tuple(sorted(scopes)), identity)
        token = None if refetch else self.state.get(key)
        from_cache = token is not None
        if token is None:
            token = yield from self._fetch_token(realm_url, scopes, send_cred, key)
            if token is None:
                return None
        request.headers["Authorization"] = f"Bearer {token}"
        self.outcome.token_for_credentials = send_cred is not None
        return (key, from_cache)

    def _fetch_token(
        self, realm: httpx.URL, scopes: list[str], cred: Credential | None, key: TokenKey
    ) -> Generator[httpx.Request, httpx.Response, str | None]:
        service = key.service
        ext = {EXT_TOKEN: key, EXT_REGISTRY: self.registry_netloc, EXT_BODY_CAP: TOKEN_BODY_CAP}
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", s) for s in scopes)
        if cred is not None and cred.kind == "identity_token":
            form = {
                "grant_type": "refresh_token",
                "refresh_token": cred.secret,
                "service": service,
                "client_id": "preflight",
                "scope": " ".join(scopes),
            }
            post = httpx.Request("POST", realm, data=form, extensions=ext)
            self.outcome.sent_credentials = True
            response = yield post
            if response.status_code not in (404, 405):
                return self._take_token(response, key)
            # some realms only implement GET: fall back to Basic with the token as password
        headers = {}
        if cred is not None:
            headers["Authorization"] = basic_authorization(cred.username or "<token>", cred.secret)
            self.outcome.sent_credentials = True
        get = httpx.Request("GET", realm.copy_merge_params(httpx.QueryParams(params)), headers=headers, extensions=ext)
        response = yield get
        return self._take_token(response, key)

    def _take_token(self, response: httpx.Response, key: TokenKey) -> str | None:
        shared = response.extensions.get(EXT_SHARED)
        if shared is not None:
            return str(shared)  # another flow fetched this very token a moment ago
        if response.status_code != 200:
            if response.status_code in (401, 403):
                self.outcome.token_status = response.status_code
            else:
                self.outcome.token_problem = (
                    f"the token service {self.outcome.realm_host} answered HTTP {response.status_code}"
                )
            return None
        body = response.content
        try:
            data = json.loads(body[:TOKEN_BODY_CAP]) if len(body) <= TOKEN_BODY_CAP else None
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            data = None
        token = None
        if isinstance(data, dict):
            token = data.get("access_token") or data.get("token")
        if not isinstance(token, str) or not token:
            self.outcome.token_problem = f"the token service {self.outcome.realm_host} sent no usable token"
            return None
        expires = data.get("expires_in") if isinstance(data, dict) else None
        try:
            seconds = (
                float(expires)
                if isinstance(expires, (int, float)) and not isinstance(expires, bool)
                else DEFAULT_EXPIRES
            )
        except OverflowError:  # an integer too large for a float (JSON allows it)
            seconds = DEFAULT_EXPIRES
        self.state.put(key, token, seconds)
        return token
