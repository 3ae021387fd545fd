"""Each registry fixture does what docs/test-registry.md says, checked with plain httpx."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from .fault_proxy import FaultProxy
from .images import ACCEPT_ALL, DOCKER_MANIFEST, OCI_INDEX, build, delete_manifest, push_image
from .servers import BasicRegistry, OpenRegistry, RegistryStartError, TLSRegistry, TokenRegistry, start_registry
from .shim import WRONG_DIGEST, Shim
from .token_server import TokenRequest, TokenServer, libtrust_key_id, parse_scopes

ACCEPT = {"Accept": ACCEPT_ALL}


def challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    scheme, _, rest = response.headers["WWW-Authenticate"].partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def bearer_token(token_response: httpx.Response) -> str:
    assert token_response.status_code == 200, token_response.text
    return str(token_response.json()["access_token"])


# -- open registry ---------------------------------------------------------------------------------


def test_head_every_fixture_tag_with_all_types(registry: OpenRegistry) -> None:
    assert {
        "library/python:3.12-slim",
        "library/python:3.11",
        "myorg/app:latest",
        "myorg/private:1.0",
    } <= registry.digests.keys()
    assert registry.digests["library/python:3.12-slim"] == registry.digests["library/python:3.12-slim-bookworm"]
    assert registry.digests["library/python:3.12-slim"] != registry.digests["library/python:latest"]
    with httpx.Client(base_url=registry.url) as client:
        for key, digest in registry.digests.items():
            repo, tag = key.split(":")
            response = client.head(f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
            assert response.status_code == 200, key
            assert response.headers["Docker-Content-Digest"] == digest
            assert response.headers["Content-Type"] == registry.manifests[key].media_type
            assert int(response.headers["Content-Length"]) == registry.manifests[key].size


def test_index_children_and_platforms(registry: OpenRegistry) -> None:
    assert set(registry.children["library/python:3.12-slim"]) == {"linux/amd64", "linux/arm64/v8"}
    assert set(registry.children["library/python:3.11"]) == {"linux/amd64", "linux/arm/v7"}
    assert "myorg/app:1.0.0" not in registry.children
    with httpx.Client(base_url=registry.url) as client:
        body = client.get("/v2/library/python/manifests/3.12-slim", headers=ACCEPT).json()
        assert body["mediaType"] == OCI_INDEX
        listed = {m["platform"]["architecture"]: m["digest"] for m in body["manifests"]}
        assert listed["arm64"] == registry.children["library/python:3.12-slim"]["linux/arm64/v8"]
        # A Docker list asked for with the schema2 type only: the amd64 child (section 6).
        only_v2 = client.head("/v2/library/python/manifests/3.11", headers={"Accept": DOCKER_MANIFEST})
        assert only_v2.headers["Docker-Content-Digest"] == registry.children["library/python:3.11"]["linux/amd64"]
        # OCI content without OCI types in Accept: 404 (section 6).
        assert (
            client.head("/v2/library/python/manifests/3.12-slim", headers={"Accept": DOCKER_MANIFEST}).status_code
            == 404
        )


def test_missing_tag_and_missing_repository(registry: OpenRegistry) -> None:
    with httpx.Client(base_url=registry.url) as client:
        missing_tag = client.get("/v2/library/python/manifests/9.99", headers=ACCEPT)
        assert missing_tag.status_code == 404
        assert missing_tag.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        assert client.head("/v2/library/python/manifests/9.99", headers=ACCEPT).status_code == 404
        tags = client.get("/v2/library/python/tags/list")
        assert tags.status_code == 200
        assert {"3.12", "3.12-alpine", "3.13-slim", "3.11-slim", "3.12-slim"} <= set(tags.json()["tags"])
        no_repo = client.get("/v2/nobody/nothing/tags/list")
        assert no_repo.status_code == 404
        assert no_repo.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_push_image_moves_a_tag_and_delete_removes_it(registry: OpenRegistry, scratch_repo: str) -> None:
    first = push_image(registry.url, scratch_repo, "1.0")
    assert push_image(registry.url, scratch_repo, "1.0") == first  # deterministic content
    moved = push_image(registry.url, scratch_repo, "1.0", seed="moved", platforms=("linux/amd64", "linux/arm64"))
    assert moved != first
    assert moved == build("moved", ("linux/amd64", "linux/arm64")).digest
    with httpx.Client(base_url=registry.url) as client:
        head = client.head(f"/v2/{scratch_repo}/manifests/1.0", headers=ACCEPT)
        assert head.headers["Docker-Content-Digest"] == moved
        delete_manifest(registry.url, scratch_repo, moved)
        assert client.head(f"/v2/{scratch_repo}/manifests/1.0", headers=ACCEPT).status_code == 404
        assert client.get(f"/v2/{scratch_repo}/tags/list").json()["tags"] is None


# -- Basic auth ------------------------------------------------------------------------------------


def test_basic_registry(basic_registry: BasicRegistry, registry: OpenRegistry, scratch_repo: str) -> None:
    path = "/v2/myorg/private/manifests/1.0"
    with httpx.Client(base_url=basic_registry.url) as client:
        anonymous = client.head(path, headers=ACCEPT)
        assert anonymous.status_code == 401
        assert challenge(anonymous) == ("Basic", {"realm": "preflight-test"})
        wrong = client.head(path, headers=ACCEPT, auth=(basic_registry.username, "wrong"))
        assert wrong.status_code == 401
        alice = client.head(path, headers=ACCEPT, auth=(basic_registry.username, basic_registry.password))
        assert alice.status_code == 200
        assert alice.headers["Docker-Content-Digest"] == registry.digests["myorg/private:1.0"]
    auth = (basic_registry.username, basic_registry.password)
    assert push_image(basic_registry.url, scratch_repo, "1", seed="b", auth=auth) == build("b").digest
    with pytest.raises(AssertionError, match="expected 202, got 401"):
        push_image(basic_registry.url, scratch_repo, "2", seed="c")


# -- token auth ------------------------------------------------------------------------------------


def test_token_flow_anonymous_pull_allowed(
    token_registry: TokenRegistry, token_server: TokenServer, registry: OpenRegistry
) -> None:
    path = "/v2/library/python/manifests/3.12-slim"
    with httpx.Client(base_url=token_registry.url) as client:
        first = client.head(path, headers=ACCEPT)
        assert first.status_code == 401
        scheme, params = challenge(first)
        assert scheme == "Bearer"
        assert params == {
            "realm": token_registry.realm,
            "service": token_registry.service,
            "scope": "repository:library/python:pull",
        }
        token = bearer_token(
            client.get(params["realm"], params={"service": params["service"], "scope": params["scope"]})
        )
        second = client.head(path, headers={**ACCEPT, "Authorization": f"Bearer {token}"})
        assert second.status_code == 200
        assert second.headers["Docker-Content-Digest"] == registry.digests["library/python:3.12-slim"]
    assert token_server.requests == [TokenRequest(None, token_registry.service, ("repository:library/python:pull",))]


def test_token_flow_private_repository(token_registry: TokenRegistry, token_server: TokenServer) -> None:
    path = "/v2/myorg/private/manifests/1.0"
    query = {"service": token_registry.service, "scope": "repository:myorg/private:pull"}
    with httpx.Client(base_url=token_registry.url) as client:
        anonymous = bearer_token(client.get(token_registry.realm, params=query))
        denied = client.head(path, headers={**ACCEPT, "Authorization": f"Bearer {anonymous}"})
        assert denied.status_code == 401
        assert challenge(denied)[1]["error"] == "insufficient_scope"
        alice = bearer_token(client.get(token_registry.realm, params=query, auth=("alice", "s3cret")))
        assert client.head(path, headers={**ACCEPT, "Authorization": f"Bearer {alice}"}).status_code == 200
        assert client.get(token_registry.realm, params=query, auth=("alice", "nope")).status_code == 401
    assert [r.user for r in token_server.requests] == [None, "alice", "alice"]


@pytest.mark.parametrize(
    ("knob", "value", "error"),
    [("key_header", "kid", None), ("garbage", True, "invalid_token"), ("lifetime", -120, "invalid_token")],
)
def test_token_server_knobs(
    token_registry: TokenRegistry, token_server: TokenServer, knob: str, value: object, error: str | None
) -> None:
    setattr(token_server, knob, value)
    query = {"service": token_registry.service, "scope": "repository:library/python:pull"}
    with httpx.Client(base_url=token_registry.url) as client:
        token = bearer_token(client.get(token_registry.realm, params=query))
        response = client.head(
            "/v2/library/python/manifests/latest", headers={**ACCEPT, "Authorization": f"Bearer {token}"}
        )
    assert response.status_code == (200 if error is None else 401)
    if error is not None:
        assert challenge(response)[1]["error"] == error


def test_token_server_down_and_fail_auth(token_server: TokenServer) -> None:
    with httpx.Client() as client:
        token_server.down = True
        assert client.get(token_server.realm).status_code == 503
        token_server.down, token_server.fail_auth = False, True
        assert client.get(token_server.realm, auth=("alice", "s3cret")).status_code == 401
        token_server.reset()
        assert token_server.requests == []
        refreshed = client.post(
            token_server.realm,
            data={
                "grant_type": "refresh_token",
                "service": "s",
                "refresh_token": "alice-refresh-token",
                "scope": "repository:myorg/private:pull",
            },
        )
        assert refreshed.status_code == 200
        assert token_server.requests == [TokenRequest("alice", "s", ("repository:myorg/private:pull",), "POST")]


def test_scope_parsing_and_key_id(token_server: TokenServer) -> None:
    assert parse_scopes(["repository:localhost:5000/a/b:push,pull registry:catalog:*", "repository:x:pull"]) == [
        ("repository", "localhost:5000/a/b", ("push", "pull")),
        ("registry", "catalog", ("*",)),
        ("repository", "x", ("pull",)),
    ]
    certificate = x509.load_pem_x509_certificate(token_server.certificate_path.read_bytes())
    key_id = libtrust_key_id(certificate.public_key())
    assert key_id == token_server.key_id
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", key_id)


# -- TLS -------------------------------------------------------------------------------------------


def test_tls_registry(tls_registry: TLSRegistry, registry: OpenRegistry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=tls_registry.ssl_context) as client:
        response = client.head(f"{tls_registry.url}/v2/myorg/app/manifests/1.0.0", headers=ACCEPT)
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == registry.digests["myorg/app:1.0.0"]
    with httpx.Client() as default_trust, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        default_trust.get(f"{tls_registry.url}/v2/")
    with httpx.Client() as plain:
        assert plain.get(f"http://{tls_registry.hostport}/v2/").status_code == 400


# -- fault proxy -----------------------------------------------------------------------------------


def test_proxy_passes_through_and_counts(proxy: FaultProxy, registry: OpenRegistry) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(3):
            response = client.head("/v2/library/python/manifests/3.11", headers=ACCEPT)
            assert response.headers["Docker-Content-Digest"] == registry.digests["library/python:3.11"]
        assert client.get("/v2/library/python/tags/list").json()["name"] == "library/python"
    assert (proxy.connections, proxy.requests) == (1, 4)
    assert proxy.request_lines[-1] == "GET /v2/library/python/tags/list HTTP/1.1"


def test_proxy_latency(proxy: FaultProxy) -> None:
    proxy.latency = 0.05
    with httpx.Client(base_url=proxy.url) as client:
        started = time.monotonic()
        assert client.get("/v2/").status_code == 200
        assert time.monotonic() - started >= 0.05


def test_proxy_canned_statuses(proxy: FaultProxy) -> None:
    proxy.fail_next(2, 429, {"Retry-After": "1"})
    path = "/v2/library/python/manifests/latest"
    with httpx.Client(base_url=proxy.url) as client:
        seen = [client.head(path, headers=ACCEPT) for _ in range(3)]
    assert [(r.status_code, r.headers.get("Retry-After")) for r in seen] == [(429, "1"), (429, "1"), (200, None)]
    assert proxy.pending_faults == 0


def test_proxy_canned_bodies(proxy: FaultProxy) -> None:
    proxy.fail_next(1, 429, {"Retry-After": "1"})
    proxy.fail_next(1, 503)
    proxy.fail_next(1, 502)
    with httpx.Client(base_url=proxy.url) as client:
        replies = [client.get("/v2/") for _ in range(4)]
    assert [r.status_code for r in replies] == [429, 503, 502, 200]
    assert [r.json()["errors"][0]["code"] for r in replies[:3]] == ["TOOMANYREQUESTS", "UNAVAILABLE", "UNKNOWN"]
    assert all(r.headers["Connection"] == "close" for r in replies[:3])
    assert proxy.connections == 4


def test_proxy_reset_stall_and_close_mid_body(proxy: FaultProxy) -> None:
    proxy.reset_next(1)
    proxy.stall_next(1)
    proxy.close_mid_body_next(1)
    with httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(5.0, read=0.3)) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/v2/")
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v2/")
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v2/library/python/manifests/3.12-slim", headers=ACCEPT)
        assert client.get("/v2/").status_code == 200


def test_proxy_stop_ends_stalled_connections(registry: OpenRegistry) -> None:
    proxy = FaultProxy("127.0.0.1", registry.port).start()
    proxy.stall_next(1)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while proxy.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        proxy.stop()
        assert sock.recv(1024) == b""
    assert not proxy.running


# -- shim ------------------------------------------------------------------------------------------


def test_shim_paginates_tags(shim: Shim, registry: OpenRegistry) -> None:
    shim.page_size = 3
    with httpx.Client(base_url=shim.url) as client:
        everything = set(httpx.get(f"{registry.url}/v2/library/python/tags/list").json()["tags"])
        url, pages = "/v2/library/python/tags/list", []
        while url:
            response = client.get(url)
            pages.append(response.json()["tags"])
            link = response.headers.get("Link")
            url = re.match(r"<([^>]+)>", link).group(1) if link else ""
        assert all(len(page) <= 3 for page in pages) and len(pages) == -(-len(everything) // 3)
        assert [tag for page in pages for tag in page] == sorted(everything)
        shim.page_size = None
        assert (
            client.get("/v2/library/python/tags/list", params={"n": 2, "last": "3.12"}).json()["tags"]
            == sorted(t for t in everything if t > "3.12")[:2]
        )
        shim.link_override = '</v2/library/python/tags/list?n=2>; rel="next"'
        assert client.get("/v2/library/python/tags/list?n=2").headers["Link"] == shim.link_override


def test_shim_headers_and_manifest_mangling(shim: Shim, registry: OpenRegistry) -> None:
    shim.rate_limit(remaining=42)
    path = "/v2/library/python/manifests/3.12-slim"
    with httpx.Client(base_url=shim.url) as client:
        head = client.head(path, headers=ACCEPT)
        assert head.headers["ratelimit-limit"] == "100;w=21600"
        assert head.headers["ratelimit-remaining"] == "42;w=21600"
        assert head.headers["Docker-Content-Digest"] == registry.digests["library/python:3.12-slim"]
        assert int(head.headers["Content-Length"]) == registry.manifests["library/python:3.12-slim"].size
        shim.wrong_digest = True
        assert client.get(path, headers=ACCEPT).headers["Docker-Content-Digest"] == WRONG_DIGEST
        shim.drop_digest, shim.wrong_digest = True, False
        assert "Docker-Content-Digest" not in client.head(path, headers=ACCEPT).headers
        shim.truncate_manifests = True
        with pytest.raises(json.JSONDecodeError):
            client.get(path, headers=ACCEPT).json()
        shim.truncate_manifests, shim.manifest_body = False, b"{not json"
        assert client.get(path, headers=ACCEPT).content == b"{not json"


def test_shim_redirect_drops_authorization(
    make_shim: Callable[[str], Shim], basic_registry: BasicRegistry, registry: OpenRegistry
) -> None:
    shim = make_shim(basic_registry.hostport)
    shim.redirect_pattern = r"/manifests/"
    auth = (basic_registry.username, basic_registry.password)
    with httpx.Client(base_url=shim.url, auth=auth, follow_redirects=True) as client:
        response = client.get("/v2/myorg/private/manifests/1.0", headers=ACCEPT)
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == registry.digests["myorg/private:1.0"]
        assert response.history[0].status_code == 307
        assert shim.requests[-1].authorization is not None
        assert [r.authorization for r in shim.redirected] == [None]
        shim.redirect_loop = True
        with pytest.raises(httpx.TooManyRedirects):
            client.get("/v2/myorg/private/manifests/1.0", headers=ACCEPT)


# -- process management ----------------------------------------------------------------------------


def test_start_failure_reports_the_log(registry_bin: str, tmp_path: Path) -> None:
    with pytest.raises(RegistryStartError, match="tls|certificate|no such file"):
        start_registry(
            registry_bin,
            tmp_path,
            tmp_path / "data",
            name="broken",
            tls={"certificate": str(tmp_path / "missing.crt"), "key": str(tmp_path / "missing.key")},
        )


def test_registry_dies_with_its_parent(registry_bin: str, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a SIGKILLed parent leaves no registry behind."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys, time; from pathlib import Path; from tests.registry.servers import start_registry\n"
        f"p = start_registry({registry_bin!r}, Path({str(tmp_path)!r}), Path({str(tmp_path / 'data')!r}))\n"
        "print(p.process.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)}
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    try:
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
