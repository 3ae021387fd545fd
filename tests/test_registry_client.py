"""Registry client corners with ``httpx.MockTransport``: behaviour of registries we cannot run here.

Every test goes through ``preflight.registry.batch.run`` (the body of ``resolve``) with a fake
registry as the innermost transport, so routing, the address guard, retries, the auth flow,
redirects and classification are the production code. DNS is replaced by a table.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from preflight.config import Config, RegistryConfig
from preflight.engine import RuleContext, Subject
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.model import ImageUse, Location, UseKind
from preflight.registry import Lookup, Resolution, Settings
from preflight.registry.auth import AuthState, RegistryAuth
from preflight.registry.batch import run
from preflight.registry.challenge import parse_challenges, split_scope
from preflight.registry.network import bypasses_proxy, diagnose, parse_ratelimit, parse_retry_after, proxy_for
from preflight.registry.transport import Limits
from preflight.resolve import subject_for

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ALL_TYPES = {
    OCI_INDEX,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    OCI_MANIFEST,
    "application/vnd.docker.distribution.manifest.v2+json",
}
PUBLIC_IP = ["93.184.216.34"]


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps({"errors": [{"code": code, "message": code.lower(), "detail": None}]})
    return httpx.Response(status, headers=headers or {}, content=body)


@dataclass
class Fake:
    """A registry on any number of hosts: manifests by (repo, ref), tags, optional auth, hooks."""

    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    hooks: list[Callable[[httpx.Request], httpx.Response | None]] = field(default_factory=list)
    bearer: str | None = None  # realm URL: registry requests need "Bearer good"
    token_user: tuple[str, str] | None = None  # Basic credentials the realm accepts (else anonymous only)
    public: bool = True  # anonymous tokens grant pull

    def image(self, repo: str, tag: str, platform: tuple[str, str] = ("linux", "amd64")) -> str:
        config = json.dumps({"os": platform[0], "architecture": platform[1]}).encode()
        self.blobs[digest_of(config)] = config
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        self.manifests[(repo, tag)] = self.manifests[(repo, digest_of(body))] = (OCI_MANIFEST, body)
        return digest_of(body)

    def requests_to(self, path_part: str) -> list[httpx.Request]:
        return [r for r in self.seen if path_part in r.url.path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        for hook in self.hooks:
            answer = hook(request)
            if answer is not None:
                return answer
        path = request.url.path
        if path == "/token":
            return self.token(request)
        if self.bearer is not None and request.headers.get("authorization") != "Bearer good":
            scope = f"repository:{path.split('/')[2]}/{path.split('/')[3]}:pull" if path.count("/") > 3 else ""
            error = ',error="insufficient_scope"' if request.headers.get("authorization") else ""
            return err(
                401,
                "UNAUTHORIZED",
                {"www-authenticate": f'Bearer realm="{self.bearer}",service="fake",scope="{scope}"{error}'},
            )
        if "/manifests/" in path:
            repo, ref = path[len("/v2/") :].split("/manifests/")
            assert {t.strip() for t in request.headers["accept"].split(",")} == ALL_TYPES
            found = self.manifests.get((repo, ref))
            if found is None:
                return httpx.Response(404) if request.method == "HEAD" else err(404, "MANIFEST_UNKNOWN")
            media, body = found
            headers = {"content-type": media, "docker-content-digest": digest_of(body)}
            return httpx.Response(200, headers=headers, content=b"" if request.method == "HEAD" else body)
        if path.endswith("/tags/list"):
            repo = path[len("/v2/") : -len("/tags/list")]
            tags = sorted({ref for (r, ref) in self.manifests if r == repo and not ref.startswith("sha256:")})
            if not tags:
                return err(404, "NAME_UNKNOWN")
            return httpx.Response(200, json={"name": repo, "tags": tags})
        if "/blobs/" in path:
            blob = self.blobs.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, content=blob) if blob is not None else err(404, "BLOB_UNKNOWN")
        return err(404, "NOT_FOUND")

    def token(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        if auth is not None:
            user, _, password = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
            if self.token_user != (user, password):
                return err(401, "UNAUTHORIZED")
            return httpx.Response(200, json={"token": "good", "expires_in": 300})
        return httpx.Response(200, json={"token": "good" if self.public else "empty-grant"})


def resolve_with(
    fake: Callable[[httpx.Request], Any],
    refs: list[str],
    tmp_path: Path,
    *,
    platforms: tuple[str, ...] = (),
    config: Config | None = None,
    environ: dict[str, str] | None = None,
    dns: dict[str, list[str]] | None = None,
    limits: Limits | None = None,
) -> Resolution:
    cfg = config or Config(timeout=5.0)
    cfg = Config(**{**cfg.__dict__, "daemon_json": str(tmp_path / "absent-daemon.json")})
    env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker"), **(environ or {})}
    settings = Settings(cfg, env, use_cache=False)
    lookups = [Lookup(ImageRef.parse(r), frozenset(platforms)) for r in refs]
    table = dns or {}
    return asyncio.run(
        run(
            lookups,
            settings,
            inner=lambda verify, proxy: httpx.MockTransport(fake),
            limits=limits or Limits(backoff=0.01),
            resolver=lambda host: table.get(host, PUBLIC_IP),
        )
    )


def login(tmp_path: Path, key: str, user: str, secret: str, **extra: str) -> None:
    (tmp_path / "docker").mkdir(exist_ok=True)
    entry: dict[str, str] = {"auth": base64.b64encode(f"{user}:{secret}".encode()).decode(), **extra}
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {key: entry}}))


def one(res: Resolution) -> Any:
    assert len(res.facts) == 1
    return next(iter(res.facts.values()))


# ----------------------------------------------------------------- existence, tags, suggestions


def test_tag_missing_lists_tags_and_suggests(tmp_path: Path) -> None:
    fake = Fake()
    for tag in ("3.12-slim", "3.12", "latest"):
        fake.image("o/python", tag)
    res = resolve_with(
        fake, ["ghcr.io/o/python:3.12-slimm", "ghcr.io/o/python:3.12", "ghcr.io/o/python:3.13"], tmp_path
    )
    missing = res.facts["ghcr.io/o/python:3.12-slimm"]
    assert missing.status is Status.TAG_MISSING and missing.suggestions[0] == "3.12-slim"
    assert res.facts["ghcr.io/o/python:3.12"].status is Status.OK
    assert res.facts["ghcr.io/o/python:3.13"].suggestions[0] == "3.12"
    assert [r.method for r in fake.requests_to("/manifests/")] == ["HEAD"] * 3  # no GET without platforms
    assert len(fake.requests_to("/tags/list")) == 1  # one listing per repository and run


def test_cookies_a_registry_sets_are_never_sent_back(tmp_path: Path) -> None:
    """As Docker's registry client (no cookie jar): a Set-Cookie on one answer (a load balancer's
    session, a tracking cookie) does not ride on the next requests, to that host or another."""
    fake = Fake()
    fake.image("o/python", "3.12")

    def set_cookie(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path and "cookie" not in request.headers:
            answer = fake.__class__.__call__(replace(fake, hooks=[], seen=[]), request)
            answer.headers["set-cookie"] = "session=abc; Path=/"
            return answer
        return None

    fake.hooks.append(set_cookie)
    res = resolve_with(fake, ["ghcr.io/o/python:3.12", "ghcr.io/o/python:3.12-slimm"], tmp_path)
    assert res.facts["ghcr.io/o/python:3.12"].status is Status.OK
    assert res.facts["ghcr.io/o/python:3.12-slimm"].status is Status.TAG_MISSING
    assert len(fake.seen) >= 3 and all("cookie" not in r.headers for r in fake.seen)


def test_repository_missing_is_confirmed_with_tags_list(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/python", "1")
    facts = one(resolve_with(fake, ["ghcr.io/o/pyhton:1"], tmp_path))
    assert facts.status is Status.REPO_MISSING


def test_catalog_suggests_repositories(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("acme/python", "1")
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, json={"repositories": ["acme/python", "acme/web"]})
            if r.url.path == "/v2/_catalog"
            else None
        )
    )
    facts = one(resolve_with(fake, ["registry.example.com/acme/pyhton:1"], tmp_path))
    assert facts.status is Status.REPO_MISSING and facts.suggestions == ("acme/python",)


def test_artifactory_link_keeps_request_path_and_takes_last(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("team/app", "2.0")
    pages = {None: ["1.0", "1.1"], "1.1": ["1.2", "2.0.1"], "2.0.1": ["2.1"]}
    paths: list[str] = []

    def tags(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/tags/list"):
            return None
        paths.append(request.url.path)
        page = pages[request.url.params.get("last")]
        headers = {}
        if page[-1] in pages:  # Artifactory's Link names another path (it drops the virtual-repo prefix)
            headers["link"] = f'</artifactory/api/docker/v2/team/app/tags/list?last={page[-1]}&n=1000>; rel="next"'
        return httpx.Response(200, headers=headers, json={"name": "team/app", "tags": page})

    fake.hooks.append(tags)
    facts = one(resolve_with(fake, ["art.example.com/team/app:2.1.0"], tmp_path))
    assert facts.status is Status.TAG_MISSING
    assert facts.suggestions[0] == "2.1"
    assert paths == ["/v2/team/app/tags/list"] * 3


def test_pagination_page_size_fallback_and_link_rules(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "9")
    calls: list[dict[str, list[str]]] = []

    def paged(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/tags/list"):
            return None
        params = parse_qs(request.url.query.decode())
        calls.append(params)
        if params["n"] == ["1000"]:  # ECR/Quay style: page too big
            return err(413, "TOO_MANY_TAGS_REQUESTED")
        last = params.get("last", ["0"])[0]
        nxt = str(int(last) + 1)
        link = f'</v2/o/app/tags/list?n=100&last={nxt}>; rel="next"'
        if nxt == "3":  # a Link to another origin is never followed
            link = f'<https://evil.example.com/v2/o/app/tags/list?n=100&last={nxt}>; rel="next"'
        return httpx.Response(200, headers={"link": link}, json={"name": "o/app", "tags": [f"v{nxt}"]})

    fake.hooks.append(paged)
    facts = one(resolve_with(fake, ["quay.io/o/app:v4"], tmp_path))
    assert facts.status is Status.TAG_MISSING
    assert [c["n"] for c in calls] == [["1000"], ["100"], ["100"], ["100"]]
    assert not any(r.url.host == "evil.example.com" for r in fake.seen)


def test_pagination_stops_at_twenty_pages_and_repeated_pages(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "x")
    count = {"n": 0}

    def endless(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/tags/list"):
            return None
        count["n"] += 1
        i = count["n"]
        return httpx.Response(
            200,
            headers={"link": f'</v2/o/app/tags/list?last=t{i}>; rel="next"'},
            json={"name": "o/app", "tags": [f"t{i}"]},
        )

    fake.hooks.append(endless)
    assert one(resolve_with(fake, ["quay.io/o/app:t0"], tmp_path)).status is Status.TAG_MISSING
    assert count["n"] == 20

    repeat = Fake()
    repeat.image("o/app", "x")
    repeat.hooks.append(
        lambda r: (
            httpx.Response(
                200, headers={"link": '</v2/o/app/tags/list?last=a>; rel="next"'}, json={"name": "o/app", "tags": ["a"]}
            )
            if r.url.path.endswith("/tags/list")
            else None
        )
    )
    assert one(resolve_with(repeat, ["quay.io/o/app:b"], tmp_path)).suggestions == ("a",)
    assert len(repeat.requests_to("/tags/list")) == 2


def test_null_tags_means_empty(tmp_path: Path) -> None:
    fake = Fake()
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, json={"name": "o/app", "tags": None}) if r.url.path.endswith("/tags/list") else None
        )
    )
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.TAG_MISSING and facts.suggestions == ()


# ----------------------------------------------------------------- malformed answers


def test_html_200_from_a_portal_is_not_an_image(tmp_path: Path) -> None:
    portal = lambda r: httpx.Response(
        200,
        headers={"content-type": "text/html; charset=utf-8"},
        content=b"<html>login</html>",
    )
    facts = one(resolve_with(portal, ["registry.corp.example/team/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "HTML" in facts.detail
    assert "<html>" not in facts.detail


def test_malformed_json_tags_and_manifest(tmp_path: Path) -> None:
    fake = Fake()
    fake.hooks.append(
        lambda r: httpx.Response(200, content=b"{not json") if r.url.path.endswith("/tags/list") else None
    )
    assert one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path)).status is Status.REGISTRY_ERROR

    broken = Fake()
    broken.manifests[("o/app", "1")] = (OCI_INDEX, b'{"manifests": [')
    facts = one(resolve_with(broken, ["ghcr.io/o/app:1"], tmp_path, platforms=("linux/amd64",)))
    assert facts.status is Status.REGISTRY_ERROR and "JSON" in facts.detail


def test_error_messages_are_short_and_clean(tmp_path: Path) -> None:
    secret_body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "boom\x1b[31m" + "x" * 500}]})
    answer = lambda r: httpx.Response(404 if r.method == "HEAD" else 418, content=secret_body)
    facts = one(resolve_with(answer, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "HTTP 418 (UNKNOWN: boom" in facts.detail
    assert "\x1b" not in facts.detail and len(facts.detail) < 260


def test_wrong_digest_header_is_replaced_by_the_body_hash(tmp_path: Path) -> None:
    fake = Fake()
    real = fake.image("o/app", "1")

    def wrong(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/1" in request.url.path:
            media, body = fake.manifests[("o/app", "1")]
            return httpx.Response(
                200,
                headers={"content-type": media, "docker-content-digest": "sha256:" + "0" * 64},
                content=b"" if request.method == "HEAD" else body,
            )
        return None

    fake.hooks.append(wrong)
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path, platforms=("linux/amd64",)))
    assert facts.status is Status.OK and facts.digest == real
    assert any("Docker-Content-Digest" in n for n in facts.notes)


def test_digest_pull_verifies_the_body(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    pinned = "sha256:" + "a" * 64
    fake.manifests[("o/app", pinned)] = (OCI_MANIFEST, b'{"schemaVersion": 2}')
    facts = one(resolve_with(fake, [f"ghcr.io/o/app@{pinned}"], tmp_path, platforms=("linux/amd64",)))
    assert facts.status is Status.REGISTRY_ERROR and "does not match" in facts.detail


# ----------------------------------------------------------------- auth


def test_parse_challenges_rfc7235() -> None:
    header = (
        'Bearer realm="https://codeberg.org/v2/token",service="container_registry",scope="*",'
        'Basic realm="https://codeberg.org/v2"'
    )
    found = parse_challenges(header)
    assert [c.scheme for c in found] == ["bearer", "basic"]
    assert found[0].params == {"realm": "https://codeberg.org/v2/token", "service": "container_registry", "scope": "*"}
    quoted = parse_challenges(
        r'Bearer realm="https://a/t", scope="repository:a,b:pull", error_description="say \"no\""'
    )
    assert quoted[0].params["scope"] == "repository:a,b:pull"
    assert quoted[0].params["error_description"] == 'say "no"'
    assert parse_challenges(["Negotiate abc==", "BASIC Realm=x"])[-1].params == {"realm": "x"}
    assert split_scope("repository:host:5000/a:pull,push") == ("repository", "host:5000/a", "pull,push")


def test_several_challenges_in_one_header_prefer_bearer(tmp_path: Path) -> None:
    fake = Fake(bearer="https://codeberg.org/token")
    fake.image("o/app", "1")
    both = fake.__call__

    def forgejo(request: httpx.Request) -> httpx.Response:
        response = both(request)
        if response.status_code == 401:
            response.headers["www-authenticate"] += ',Basic realm="https://codeberg.org/v2"'
        return response

    facts = one(resolve_with(forgejo, ["codeberg.org/o/app:1"], tmp_path))
    assert facts.status is Status.OK
    assert len(fake.requests_to("/token")) == 1


def test_realm_on_another_host_and_token_cache(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.example.com/token", token_user=("bob", "pw"))
    for tag in ("1", "2"):
        fake.image("o/app", tag)
    login(tmp_path, "reg.example.com", "bob", "pw")
    res = resolve_with(
        fake, ["reg.example.com/o/app:1", "reg.example.com/o/app:2"], tmp_path, limits=Limits(backoff=0.01, per_host=1)
    )
    assert {f.status for f in res.facts.values()} == {Status.OK}
    tokens = fake.requests_to("/token")
    assert len(tokens) == 1  # cached per (realm, service, scope, credential)
    assert tokens[0].url.host == "auth.example.com" and tokens[0].headers["authorization"].startswith("Basic ")
    assert parse_qs(tokens[0].url.query.decode())["scope"] == ["repository:o/app:pull"]
    # credentials never go to the registry itself as Basic, and never to other hosts
    assert all(
        r.headers.get("authorization", "").startswith("Bearer") or "authorization" not in r.headers
        for r in fake.seen
        if r.url.host == "reg.example.com"
    )


def test_plain_http_realm_of_an_https_registry_is_refused(tmp_path: Path) -> None:
    fake = Fake(bearer="http://auth.example.com/token", token_user=("bob", "pw"))
    fake.image("o/app", "1")
    login(tmp_path, "reg.example.com", "bob", "pw")
    facts = one(resolve_with(fake, ["reg.example.com/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "plain HTTP" in facts.detail
    assert not fake.requests_to("/token")  # neither credentials nor a token travel over plain HTTP


def test_realm_in_private_space_is_blocked(tmp_path: Path) -> None:
    fake = Fake(bearer="https://10.1.2.3/token")
    fake.image("o/app", "1")
    facts = one(resolve_with(fake, ["reg.example.com/o/app:1"], tmp_path))
    assert facts.status is Status.BLOCKED_BY_POLICY
    assert not fake.requests_to("/token")


def test_identity_token_post_then_get_on_404(tmp_path: Path) -> None:
    fake = Fake(bearer="https://reg.example.com/token")
    fake.image("o/app", "1")
    posts: list[dict[str, list[str]]] = []

    def realm(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/token":
            return None
        if request.method == "POST":
            posts.append(parse_qs(request.content.decode()))
            return httpx.Response(404)
        user, _, secret = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        assert secret == "refresh-me"
        return httpx.Response(200, json={"access_token": "good"})

    fake.hooks.append(realm)
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "reg.example.com": {
                        "auth": base64.b64encode(b"00000000-0000-0000-0000-000000000000:").decode(),
                        "identitytoken": "refresh-me",
                    }
                }
            }
        )
    )
    facts = one(resolve_with(fake, ["reg.example.com/o/app:1"], tmp_path))
    assert facts.status is Status.OK
    assert posts and posts[0]["grant_type"] == ["refresh_token"] and posts[0]["refresh_token"] == ["refresh-me"]
    assert posts[0]["service"] == ["fake"] and posts[0]["scope"] == ["repository:o/app:pull"]


def test_cached_token_rejected_is_dropped_and_refetched_once() -> None:
    state = AuthState()
    challenge = parse_challenges('Bearer realm="https://reg.example.com/token",service="fake"')[0]
    state.challenges["reg.example.com"] = challenge
    key = ("https://reg.example.com/token", "fake", ("repository:o/app:pull",), "anonymous")
    state.put(key, "stale", 300)
    seen: list[tuple[str, str | None]] = []  # (path, Authorization) as sent: the flow reuses the request

    def server(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "fresh"})
        if request.headers.get("authorization") == "Bearer fresh":
            return httpx.Response(200)
        return err(
            401,
            "UNAUTHORIZED",
            {"www-authenticate": 'Bearer realm="https://reg.example.com/token",service="fake",error="invalid_token"'},
        )

    auth = RegistryAuth(state, registry_host="reg.example.com", scopes=("repository:o/app:pull",), credential=None)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        assert client.head("https://reg.example.com/v2/o/app/manifests/1", auth=auth).status_code == 200
    assert [a for p, a in seen if p != "/token"] == ["Bearer stale", "Bearer fresh"]
    assert len([p for p, _ in seen if p == "/token"]) == 1
    assert state.get(key) == "fresh"

    # a freshly fetched token that is refused is not fetched again (no loops)
    seen.clear()
    state.tokens.clear()
    state.challenges.clear()
    refusing = lambda r: (
        seen.append(r),
        httpx.Response(200, json={"token": "t"})
        if r.url.path == "/token"
        else err(401, "UNAUTHORIZED", {"www-authenticate": 'Bearer realm="https://reg.example.com/token"'}),
    )[1]
    auth = RegistryAuth(state, registry_host="reg.example.com", scopes=("repository:o/app:pull",), credential=None)
    with httpx.Client(transport=httpx.MockTransport(refusing)) as client:
        assert client.head("https://reg.example.com/v2/o/app/manifests/1", auth=auth).status_code == 401
    assert len(seen) == 3  # request, token, retry


def test_hub_insufficient_scope_is_missing_or_private(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.docker.io/token", public=False)
    config = Config(timeout=5)
    facts = one(resolve_with(fake, ["someone/privat:1"], tmp_path, config=config))
    assert facts.status is Status.REPO_MISSING_OR_PRIVATE and "private" in facts.detail
    assert facts.host == "registry-1.docker.io"
    registry_requests = [r for r in fake.seen if r.url.host == "registry-1.docker.io"]
    assert registry_requests[0].url.path == "/v2/someone/privat/manifests/1"
    assert len(fake.requests_to("/token")) == 1  # an empty grant is not refetched


def test_hub_official_images_get_library_prefix(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.docker.io/token")
    fake.image("library/python", "3.12")
    assert one(resolve_with(fake, ["python:3.12"], tmp_path)).status is Status.OK
    token = fake.requests_to("/token")[0]
    assert parse_qs(token.url.query.decode())["scope"] == ["repository:library/python:pull"]


def test_registry_1_docker_io_written_literally_is_hub_without_library(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.docker.io/token", public=False)
    res = resolve_with(fake, ["registry-1.docker.io/ubuntu:22.04"], tmp_path)
    assert one(res).status is Status.REPO_MISSING_OR_PRIVATE
    assert fake.seen[0].url.path == "/v2/ubuntu/manifests/22.04" and fake.seen[0].url.host == "registry-1.docker.io"
    assert any("without the library/ prefix" in w for w in res.warnings)


def test_ghcr_denied_without_challenge(tmp_path: Path) -> None:
    fake = lambda r: err(403, "DENIED")
    facts = one(resolve_with(fake, ["ghcr.io/o/private:1"], tmp_path))
    assert facts.status is Status.REPO_MISSING_OR_PRIVATE and "HTTP 403" in facts.detail  # HEAD: no body


def test_rejected_credentials_on_a_public_image_retry_anonymously(tmp_path: Path) -> None:
    fake = Fake(bearer="https://public.ecr.aws/token")
    fake.image("o/app", "1")

    def expired(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/token" and "authorization" in request.headers:
            return err(403, "DENIED")
        return None

    fake.hooks.append(expired)
    login(tmp_path, "public.ecr.aws", "AWS", "expired")
    res = resolve_with(fake, ["public.ecr.aws/o/app:1"], tmp_path)
    assert one(res).status is Status.OK
    assert any("were rejected; the image is public and was checked anonymously" in w for w in res.warnings)
    assert "expired" not in " ".join(res.warnings)


def test_basic_challenge_without_and_with_wrong_credentials(tmp_path: Path) -> None:
    def basic(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == "Basic " + base64.b64encode(b"AWS:right").decode():
            return httpx.Response(200, headers={"content-type": OCI_MANIFEST, "docker-content-digest": digest_of(b"x")})
        return err(401, "UNAUTHORIZED", {"www-authenticate": 'Basic realm="https://1.dkr.ecr.example.com/"'})

    ref = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
    assert one(resolve_with(basic, [ref], tmp_path)).status is Status.AUTH_REQUIRED
    login(tmp_path, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", "wrong")
    facts = one(resolve_with(basic, [ref], tmp_path))
    assert facts.status is Status.AUTH_FAILED and facts.credential_source and "wrong" not in facts.detail
    login(tmp_path, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", "right")
    assert one(resolve_with(basic, [ref], tmp_path)).status is Status.OK


# ----------------------------------------------------------------- redirects


def test_redirect_to_another_host_drops_authorization(tmp_path: Path) -> None:
    fake = Fake(bearer="https://reg.example.com/token")
    fake.image("o/app", "1")
    cdn: list[httpx.Request] = []

    def redirecting(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == "cdn.example.net":
            cdn.append(request)
            return httpx.Response(200, content=fake.blobs[request.url.path.rsplit("/", 1)[1]])
        if "/blobs/" in request.url.path and request.headers.get("authorization") == "Bearer good":
            return httpx.Response(
                307, headers={"location": f"https://cdn.example.net/b/{request.url.path.rsplit('/', 1)[1]}"}
            )
        return None

    fake.hooks.append(redirecting)
    facts = one(resolve_with(fake, ["reg.example.com/o/app:1"], tmp_path, platforms=("linux/amd64",)))
    assert facts.status is Status.OK and facts.platforms == ("linux/amd64",)
    assert cdn and "authorization" not in cdn[0].headers


def test_redirect_limits_and_guard(tmp_path: Path) -> None:
    loop = lambda r: httpx.Response(302, headers={"location": r.url.path})
    facts = one(resolve_with(loop, ["reg.example.com/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "redirected more than 5" in facts.detail

    downgrade = lambda r: httpx.Response(301, headers={"location": "http://reg.example.com" + r.url.path})
    assert one(resolve_with(downgrade, ["reg.example.com/o/app:1"], tmp_path)).status is Status.REGISTRY_ERROR

    seen: list[httpx.Request] = []

    def metadata(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"location": "https://169.254.169.254/latest/meta-data/"})

    facts = one(resolve_with(metadata, ["reg.example.com/o/app:1"], tmp_path))
    assert facts.status is Status.BLOCKED_BY_POLICY and len(seen) == 1


# ----------------------------------------------------------------- rate limits and retries


def test_hub_rate_limit_headers_and_429_not_retried(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.docker.io/token")
    fake.image("library/python", "3.12")
    limited = {
        "ratelimit-limit": "100;w=21600",
        "ratelimit-remaining": "20;w=21600",
        "docker-ratelimit-source": "203.0.113.9",
    }

    def headers(request: httpx.Request) -> httpx.Response | None:
        if request.url.host != "registry-1.docker.io" or "/manifests/" not in request.url.path:
            return None
        if request.url.path.endswith("/alpine/manifests/3"):
            return err(429, "TOOMANYREQUESTS", {**limited, "ratelimit-remaining": "0;w=21600", "retry-after": "3600"})
        response = plain(request)
        response.headers.update(limited)
        return response

    plain = fake.__call__
    fake = Fake(bearer="https://auth.docker.io/token", hooks=[headers])
    res = resolve_with(fake, ["python:3.12", "alpine:3"], tmp_path)
    assert res.facts["docker.io/library/python:3.12"].ratelimit_remaining == 20
    limited_facts = res.facts["docker.io/library/alpine:3"]
    assert limited_facts.status is Status.RATE_LIMITED and limited_facts.retry_after == 3600
    assert "remaining 0 of 100" in limited_facts.detail
    assert res.dockerhub_remaining == 0
    assert len([r for r in fake.seen if r.url.path.endswith("/alpine/manifests/3")]) == 1


def test_429_with_retry_after_is_honoured_elsewhere(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    answers = iter([err(429, "TOOMANYREQUESTS", {"retry-after": "0"}), None])
    fake.hooks.append(lambda r: next(answers) if "/manifests/" in r.url.path else None)
    assert one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path)).status is Status.OK

    always = lambda r: err(429, "TOOMANYREQUESTS", {"retry-after": "30"})
    facts = one(resolve_with(always, ["ghcr.io/o/app:1"], tmp_path, config=Config(timeout=2)))
    assert facts.status is Status.RATE_LIMITED and facts.retry_after == 30  # past the deadline: no wait


def test_5xx_retried_then_reported_once_per_host(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    flaky = iter([err(503, "UNAVAILABLE"), err(502, "BAD_GATEWAY")])
    fake.hooks.append(lambda r: next(flaky, None))
    assert one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path)).status is Status.OK

    down = lambda r: err(500, "UNKNOWN")
    res = resolve_with(down, ["ghcr.io/o/a:1", "ghcr.io/o/b:1"], tmp_path)
    assert {f.status for f in res.facts.values()} == {Status.REGISTRY_ERROR}
    assert res.requests == 6  # 3 tries each


def test_unreachable_host_is_diagnosed_once(tmp_path: Path) -> None:
    calls = []

    def refused(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("All connection attempts failed", request=request) from ConnectionRefusedError(
            111, "refused"
        )

    res = resolve_with(
        refused, [f"reg.example.com/o/app:{i}" for i in range(5)], tmp_path, limits=Limits(backoff=0.01, per_host=1)
    )
    assert {f.status for f in res.facts.values()} == {Status.NETWORK_REFUSED}
    assert len(calls) == 1
    assert res.requests == 0  # the summary counts requests a registry answered; none was


def test_requests_count_answers_not_failed_attempts(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    failures = iter([socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")])

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:  # DNS that fails once (EAI_AGAIN, retried): nothing was sent
            raise httpx.ConnectError(str(failure), request=request) from failure
        return fake(request)

    answered = resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path)
    res = resolve_with(flaky, ["ghcr.io/o/app:1"], tmp_path)
    assert one(res).status is Status.OK and res.requests == answered.requests


def test_deadline_marks_unfinished_lookups_not_checked(tmp_path: Path) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    res = resolve_with(slow, ["ghcr.io/o/app:1"], tmp_path, config=Config(timeout=0.5))
    facts = one(res)
    assert facts.status in (Status.NOT_CHECKED, Status.NETWORK_TIMEOUT)
    assert facts.status is not Status.OK


def test_mirror_failure_falls_back_to_hub(tmp_path: Path) -> None:
    fake = Fake(bearer="https://auth.docker.io/token")
    fake.image("library/python", "3.12")

    def mirror_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mirror.example.com":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return fake(request)

    cfg = Config(registries={"docker.io": RegistryConfig(mirrors=("https://mirror.example.com",))}, timeout=5)
    res = resolve_with(mirror_down, ["python:3.12", "python:3.12-slim"], tmp_path, config=cfg)
    assert res.facts["docker.io/library/python:3.12"].status is Status.OK
    assert res.facts["docker.io/library/python:3.12-slim"].status is Status.TAG_MISSING
    assert any("mirror mirror.example.com failed" in w for w in res.warnings)


# ----------------------------------------------------------------- diagnosis and proxies


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpx.ConnectError(str(inner)) from None
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "status", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), Status.NETWORK_DNS, "cannot resolve"),
        (ConnectionRefusedError(111, "Connection refused"), Status.NETWORK_REFUSED, "refused"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), Status.TLS, "not trusted"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), Status.TLS, "plain HTTP"),
        (OSError(101, "Network is unreachable"), Status.NETWORK_REFUSED, "no route"),
    ],
)
def test_diagnose_walks_the_exception_chain(cause: BaseException, status: Status, words: str) -> None:
    url = httpx.URL("https://reg.example.com:5000/v2/")
    found = diagnose(_connect_error(cause), url, None)
    assert found.status is status and words in found.message and found.host == "reg.example.com:5000"


def test_diagnose_groups_timeouts_and_proxies() -> None:
    url = httpx.URL("https://reg.example.com/v2/")
    group = ExceptionGroup("connect", [ConnectionRefusedError(111, "refused")])
    assert (
        diagnose(httpx.ConnectError("x", request=None) if False else _connect_error(group), url, None).status
        is Status.NETWORK_REFUSED
    )
    assert diagnose(httpx.ReadTimeout("slow"), url, None).status is Status.NETWORK_TIMEOUT
    assert (
        diagnose(httpx.ProxyError("407 Proxy Authentication Required"), url, "http://u:p@proxy:3128").status
        is Status.PROXY
    )
    proxied = diagnose(_connect_error(ConnectionRefusedError(111, "refused")), url, "http://u:p@proxy:3128")
    assert proxied.status is Status.PROXY and "proxy:3128" in proxied.message and "u:p" not in proxied.message


def test_proxy_selection_honours_no_proxy_cidrs() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.0/8,.internal.example,exact.example,host:5000"}
    assert proxy_for(httpx.URL("https://ghcr.io/v2/"), env) == "http://proxy:3128"
    assert proxy_for(httpx.URL("https://10.2.3.4/v2/"), env) is None
    assert proxy_for(httpx.URL("https://a.internal.example/v2/"), env) is None
    assert proxy_for(httpx.URL("https://sub.exact.example/v2/"), env) is None
    assert proxy_for(httpx.URL("https://host:5000/v2/"), env) is None
    assert proxy_for(httpx.URL("https://host:5001/v2/"), env) == "http://proxy:3128"
    assert proxy_for(httpx.URL("http://ghcr.io/v2/"), env) is None  # no HTTP_PROXY
    assert bypasses_proxy("anything", None, "*")
    assert proxy_for(httpx.URL("https://ghcr.io/"), {"all_proxy": "proxy:8080"}) == "http://proxy:8080"


def test_header_parsers() -> None:
    assert parse_ratelimit("20;w=21600") == 20 and parse_ratelimit(None) is None and parse_ratelimit("x") is None
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0
    assert parse_retry_after("soon") is None


# ----------------------------------------------------------------- rules on these facts


def test_platforms_from_index_skip_attestations(tmp_path: Path) -> None:
    fake = Fake()
    child = fake.image("o/app", "amd")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "aarch64", "variant": "v8"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child,
                    "size": 1,
                    "platform": {"os": "unknown", "architecture": "unknown"},
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                },
            ],
        }
    ).encode()
    fake.manifests[("o/app", "1")] = (OCI_INDEX, index)
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path, platforms=("linux/s390x",)))
    assert facts.platforms == ("linux/amd64", "linux/arm64")

    import preflight.rules.registry as rules

    use = ImageUse(
        UseKind.FROM, Location("Dockerfile", 1, 6, 1, 21), "ghcr.io/o/app:1", "ghcr.io/o/app:1", platform="linux/s390x"
    )
    hits = list(
        rules.platform_missing(
            Subject(use, ImageRef.parse(use.written), None, facts, subject_for(use, ("linux/arm64",)).platforms),
            RuleContext(),
        )
    )
    assert (
        len(hits) == 1
        and "linux/s390x" in hits[0].message
        and "linux/arm64" not in hits[0].message.split("has no")[1].split("image")[0]
    )


# ------------------------------------------------------------------ token services, broken answers, deadlines
def _realm_answers(fake: Fake, response: httpx.Response) -> None:
    fake.bearer = "https://ghcr.io/token"
    fake.hooks.append(lambda r: response if r.url.path == "/token" else None)


def test_token_service_without_a_token_is_not_ok(tmp_path: Path) -> None:
    """A realm answering 200 with no usable token: its reply must not pass as the manifest."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, json={"nothing": "here"}))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "token service" in facts.detail


def test_token_service_404_is_not_repository_missing(tmp_path: Path) -> None:
    """A realm answering 404 says nothing about the repository."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(404, text="404 page not found"))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "token service" in facts.detail and "404" in facts.detail


class _Body(httpx.AsyncByteStream):
    """A streamed body, decoded only when the client reads it (as from a real server)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.data


@pytest.mark.parametrize(
    "headers,body",
    [
        ({"content-encoding": "gzip"}, b"not gzip"),  # httpx.DecodingError, which is no TransportError
        ({}, b"[" * 60000),  # nested past the recursion limit, well under the size caps
    ],
    ids=["undecodable", "deeply-nested"],
)
def test_broken_tags_list_is_a_registry_error(tmp_path: Path, headers: dict[str, str], body: bytes) -> None:
    """A tags list that cannot be read is a registry error, not an internal one."""
    fake = Fake()
    fake.image("o/app", "1")
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, headers=headers, stream=_Body(body)) if r.url.path.endswith("/tags/list") else None
        )
    )
    facts = one(resolve_with(fake, ["ghcr.io/o/app:2"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "internal error" not in facts.detail


def test_deeply_nested_token_answer_is_a_token_service_error(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, content=b"[" * 60000))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "token service" in facts.detail


def test_daemon_json_cidr_lookup_that_never_answers_ends_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matching daemon.json ``insecure-registries`` CIDRs resolves the registry name; a resolver
    that never answers must not hold the registry step past its deadline."""
    release = threading.Event()

    def stalled(host: str) -> list[str]:  # the run's one resolver: CIDR matching, guard and connections
        if host == "registry.corp.example":
            release.wait(60)
        return PUBLIC_IP

    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"insecure-registries": ["10.0.0.0/8"]}))
    settings = Settings(
        Config(timeout=1.0, daemon_json=str(daemon)),
        {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")},
        use_cache=False,
    )
    outcome: list[Resolution] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            asyncio.run(
                run(
                    [Lookup(ImageRef.parse("registry.corp.example/app:1"))],
                    settings,
                    inner=lambda verify, proxy: httpx.MockTransport(Fake()),
                    limits=Limits(backoff=0.01),
                    resolver=stalled,
                )
            )
        ),
        daemon=True,
    )
    try:
        worker.start()
        worker.join(20)
        assert outcome, "the registry step was still blocked in DNS long after its 1 s deadline"
        assert one(outcome[0]).status is Status.NOT_CHECKED
    finally:
        release.set()


def test_token_lifetime_too_large_for_a_float_is_not_an_internal_error(tmp_path: Path) -> None:
    """``expires_in`` is an integer of 400 digits (valid JSON): the token is used with a sane lifetime."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, content=b'{"token": "good", "expires_in": 1' + b"0" * 400 + b"}"))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.OK


# ----------------------------------------------------------------- concurrency per host (issue 13, speed)


class InFlight:
    """A registry that answers every manifest HEAD after a pause and records the most requests in flight per host."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.now[host] = self.now.get(host, 0) + 1
        self.most[host] = max(self.most.get(host, 0), self.now[host])
        await asyncio.sleep(0.05)
        self.now[host] -= 1
        return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + "a" * 64})


def _in_flight(tmp_path: Path, config: Config, refs: list[str]) -> InFlight:
    fake = InFlight()
    settings = Settings(
        replace(config, daemon_json=str(tmp_path / "absent.json")), {"HOME": str(tmp_path)}, use_cache=False
    )
    res = asyncio.run(
        run(
            [Lookup(ImageRef.parse(r)) for r in refs],
            settings,
            inner=lambda verify, proxy: httpx.MockTransport(fake),
            resolver=lambda host: PUBLIC_IP,
        )
    )
    assert all(f.status is Status.OK for f in res.facts.values())
    return fake


def test_concurrency_per_host_comes_from_the_configuration(tmp_path: Path) -> None:
    refs = [f"{host}/o/app:{i}" for host in ("a.example", "b.example") for i in range(40)]
    default = _in_flight(tmp_path, Config(timeout=20), refs)
    assert default.most == {"a.example": 32, "b.example": 32}  # was 4 per host
    three = _in_flight(tmp_path, Config(timeout=20, concurrency=3), refs)
    assert three.most == {"a.example": 3, "b.example": 3}
