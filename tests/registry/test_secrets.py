"""Secrets and trust: preflight leaks no credential, and sends credentials only where they belong.

Secrets: a distinctive password and identity token are planted in the user's docker config
(``auths``: ``auth`` and ``identitytoken``), in a credential helper on PATH, and in
``DOCKER_AUTH_CONFIG``; a Basic-auth registry of our own (htpasswd ``bob``) and the token
registry (the token server knows ``bob``) accept them, and every JWT the token server issues is
recorded. Each run prints every output format, writes every output file, logs with ``--debug`` and
fills the cache; none of those bytes may contain a secret in any spelling (plain, URL-quoted,
base64 at any alignment, ``user:password`` in base64) nor an issued token.

Trust: credentials never go to another registry on the same host, ``Authorization`` never crosses
to another origin on a redirect or a ``Link``, the token realm gets the password and the registry
only the token, cloud metadata addresses are refused without a single connection attempt, and
no credential travels over plain HTTP to a host that is not this machine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from preflight.config import Config, RegistryConfig
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings
from preflight.registry.batch import run
from preflight.registry.cache import CACHE_FILE
from preflight.registry.transport import Limits

from .servers import RegistryProcess, htpasswd_auth, start_registry
from .test_e2e_registry import run_check

REPO = Path(__file__).resolve().parents[2]
USER = "bob"
PASSWORD = "s3cret-PLANTED-9f1c"
TOKEN = "idtok-PLANTED-4d7a0e"  # an identity (refresh) token
WRONG = "wr0ng-PLANTED-2b8e"
HTPASSWD_BOB = "bob:$2y$05$Kk7HZ4GXtoDwVt4LJETpmOIV0ZKBEhGtSfC2JitTW.i26st96aRJy\n"
"""bcrypt (cost 5) of PASSWORD, made once with crypt(3); Distribution needs bcrypt."""
FORMATS = ("text", "json", "sarif", "github", "gitlab")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def spellings(secret: str) -> set[bytes]:
    """``secret`` as it could leak: plain, URL-quoted, ``bob:secret`` in base64, and the part of its
    base64 encoding that does not depend on what surrounds it, at each of the three alignments."""
    raw = secret.encode()
    out = {raw, quote(secret, safe="").encode(), b64(f"{USER}:{secret}").encode()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        out.add(encoded[4 * ((shift + 2) // 3) : 4 * ((shift + len(raw)) // 3)])
    return out


def leaks(data: bytes, secrets: dict[str, set[bytes]]) -> list[str]:
    return [name for name, forms in secrets.items() if any(form in data for form in forms)]


@pytest.fixture(scope="module")
def planted_registry(registry, registry_bin: str, registry_workdir: Path) -> Iterator[RegistryProcess]:  # type: ignore[no-untyped-def]
    """A Basic-auth registry on the shared storage that knows only bob / PASSWORD."""
    workdir = registry_workdir / "planted"
    workdir.mkdir(exist_ok=True)
    process = start_registry(
        registry_bin, workdir, registry.root, name="planted", auth=htpasswd_auth(workdir, HTPASSWD_BOB)
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def issued(token_server, monkeypatch: pytest.MonkeyPatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Teach the token server bob's password and identity token; collect every JWT it issues."""
    tokens: list[str] = []
    original = token_server.issue

    def issue(user: str | None, scopes: list[Any]) -> dict[str, Any]:
        answer = original(user, scopes)
        tokens.append(answer["token"])
        return answer

    monkeypatch.setattr(token_server, "issue", issue)
    token_server.users[USER] = PASSWORD
    token_server.refresh_tokens[TOKEN] = USER
    return tokens


def helper_dir(tmp: Path, secret: str) -> Path:
    """``docker-credential-planted``: answers bob / ``secret`` for any registry."""
    directory = tmp / "bin"
    directory.mkdir(exist_ok=True)
    helper = directory / "docker-credential-planted"
    helper.write_text(
        f'#!/bin/sh\nread key\nprintf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{secret}"}}\' "$key"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    return directory


def run_everything(
    tmp: Path,
    dockerfile: str,
    config: dict[str, Any],
    *,
    docker_config: dict[str, Any],
    env_extra: dict[str, str],
    extra_path: Path | None,
) -> subprocess.CompletedProcess[str]:
    """Every format (text to a file with ``-o``, github on stdout, the others with ``--output-*``;
    only one format may go to stdout), ``--debug``, the cache on; nothing else differs from
    ``run_check`` (same environment layout)."""
    (tmp / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (tmp / ".preflight.yaml").write_text(json.dumps(config), encoding="utf-8")
    (tmp / "docker").mkdir(exist_ok=True)
    (tmp / "docker" / "config.json").write_text(json.dumps(docker_config), encoding="utf-8")
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    env = {
        "PATH": (f"{extra_path}:" if extra_path else "") + "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "DOCKER_CONFIG": str(tmp / "docker"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(REPO),
        "GITHUB_STEP_SUMMARY": str(out / "step-summary.md"),
        **env_extra,
    }
    assert set(FORMATS) == {"text", "github", "sarif", "json", "gitlab"}  # each rendered below
    formats = ["--format", "text", "--format", "github"]  # text -> -o FILE, github -> stdout
    cmd = [
        sys.executable,
        "-m",
        "preflight",
        "check",
        ".",
        "--config",
        ".preflight.yaml",
        "--debug",
        *formats,
        "-o",
        str(out / "first.txt"),
        "--output-sarif",
        str(out / "r.sarif"),
        "--output-json",
        str(out / "r.json"),
        "--output-gitlab",
        str(out / "gl.json"),
    ]
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done


def scanned(tmp: Path, done: subprocess.CompletedProcess[str]) -> dict[str, bytes]:
    """stdout, stderr and every file preflight could have written (all of tmp but the planted
    docker config and helper)."""
    found = {"stdout": done.stdout.encode(), "stderr": done.stderr.encode()}
    for path in sorted(tmp.rglob("*")):
        if path.is_file() and not path.is_relative_to(tmp / "docker") and not path.is_relative_to(tmp / "bin"):
            found[str(path.relative_to(tmp))] = path.read_bytes()
    return found


def _sources(planted: str, token: str) -> dict[str, tuple[dict[str, Any], dict[str, str], bool]]:
    """(docker config, extra environment, helper on PATH) per way of storing the secrets."""
    p, t = planted, token
    return {
        "auths": (
            {"auths": {p: {"auth": b64(f"{USER}:{PASSWORD}")}, t: {"username": USER, "identitytoken": TOKEN}}},
            {},
            False,
        ),
        "helper": ({"credsStore": "planted"}, {}, True),
        "DOCKER_AUTH_CONFIG": (
            {},
            {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {k: {"auth": b64(f"{USER}:{PASSWORD}")} for k in (p, t)}})},
            False,
        ),
    }


def _dockerfile() -> str:
    return (
        "FROM p.test/myorg/private:1.0\nFROM p.test/library/python:3.12-slimm\n"
        "FROM t.test/myorg/private:1.0\nFROM t.test/library/python:3.12-slimm\n"
    )


@pytest.mark.parametrize("source", ["auths", "helper", "DOCKER_AUTH_CONFIG"])
def test_no_secret_in_any_output_log_or_cache(
    planted_registry,
    token_registry,
    token_server,
    issued,  # type: ignore[no-untyped-def]
    source: str,
    tmp_path: Path,
) -> None:
    docker_config, env_extra, helper = _sources(planted_registry.hostport, token_registry.hostport)[source]
    config = {"registries": {"p.test": {"endpoint": planted_registry.url}, "t.test": {"endpoint": token_registry.url}}}
    done = run_everything(
        tmp_path,
        _dockerfile(),
        config,
        docker_config=docker_config,
        env_extra=env_extra,
        extra_path=helper_dir(tmp_path, PASSWORD) if helper else None,
    )
    report = json.loads((tmp_path / "out" / "r.json").read_text())
    rules = sorted((f["line"], f["rule"]) for f in report["findings"])
    assert rules == [(2, "PF201"), (4, "PF201")], report["findings"]  # the private images were reachable
    assert USER in {r.user for r in token_server.requests} and issued
    assert "preflight: debug: GET" in done.stderr and "preflight: debug: credentials for" in done.stderr
    if source == "auths":
        assert "preflight: debug: POST" in done.stderr  # the identity token went to the realm
    cache = tmp_path / "cache" / "preflight" / CACHE_FILE
    assert len(json.loads(cache.read_text())["entries"]) == 4
    secrets = {
        "password": spellings(PASSWORD),
        "identity token": spellings(TOKEN),
        **{f"issued token {i}": {jwt.encode(), jwt.rsplit(".", 1)[1].encode()} for i, jwt in enumerate(issued)},
    }
    found = {where: leaks(data, secrets) for where, data in scanned(tmp_path, done).items()}
    assert {where: names for where, names in found.items() if names} == {}
    assert {
        "stdout",
        "stderr",
        "out/first.txt",
        "out/r.sarif",
        "out/r.json",
        "out/gl.json",
        "out/step-summary.md",
        f"cache/preflight/{CACHE_FILE}",
    } <= set(found)


def test_wrong_password_is_named_by_source_never_by_value(
    planted_registry,
    token_registry,
    token_server,  # type: ignore[no-untyped-def]
    issued,
    tmp_path: Path,
) -> None:
    wrong = {
        "auths": {k: {"auth": b64(f"{USER}:{WRONG}")} for k in (planted_registry.hostport, token_registry.hostport)}
    }
    config = {"registries": {"p.test": {"endpoint": planted_registry.url}, "t.test": {"endpoint": token_registry.url}}}
    done = run_everything(tmp_path, _dockerfile(), config, docker_config=wrong, env_extra={}, extra_path=None)
    report = json.loads((tmp_path / "out" / "r.json").read_text())
    denied = [f for f in report["findings"] if f["line"] in (1, 3)]
    assert [f["rule"] for f in denied] == ["PF204", "PF204"], report["findings"]
    assert all("~/docker/config.json" in f["message"] for f in denied)
    secrets = {
        "wrong password": spellings(WRONG),
        "password": spellings(PASSWORD),
        **{f"issued token {i}": {jwt.encode()} for i, jwt in enumerate(issued)},
    }
    found = {where: leaks(data, secrets) for where, data in scanned(tmp_path, done).items()}
    assert {where: names for where, names in found.items() if names} == {}


def test_proxy_password_never_shown(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A proxy URL with user information: the proxy failure is named (PF208), the password is not."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a dead proxy
        port = sock.getsockname()[1]
        proxy = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"
        done = run_everything(
            tmp_path,
            f"FROM {registry.hostport}/library/python:3.12-slim\n",
            {},
            docker_config={},
            env_extra={"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": ""},
            extra_path=None,
        )
    report = json.loads((tmp_path / "out" / "r.json").read_text())
    (finding,) = report["findings"]
    assert finding["rule"] == "PF208" and f"proxy http://127.0.0.1:{port}" in finding["message"]
    found = {
        where: leaks(data, {"proxy password": spellings(PASSWORD)}) for where, data in scanned(tmp_path, done).items()
    }
    assert {where: names for where, names in found.items() if names} == {}


# ----------------------------------------------------------------- trust: where credentials go


def by_line(report: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for f in report["findings"]:
        out.setdefault(f["line"], []).append((f["rule"], f["message"]))
    return out


def test_credentials_stay_with_their_registry_on_a_shared_host(
    planted_registry,
    token_registry,
    token_server,  # type: ignore[no-untyped-def]
    make_proxy,
    tmp_path: Path,
) -> None:
    """Two registries on 127.0.0.1: the Basic registry's password never reaches the other one's
    token service (the challenge of one host:port is not reused for another)."""
    basic, token = make_proxy(planted_registry.hostport), make_proxy(token_registry.hostport)
    # The token registry's challenge (at 0.3 s) lands between the Basic registry's own challenge
    # (0.2 s) and its next lookup request (0.4 s: tags/list after the 404), whatever the load.
    basic.latency, token.latency = 0.2, 0.3
    docker = {"auths": {basic.hostport: {"auth": b64(f"{USER}:{PASSWORD}")}}}
    config = {"registries": {"t.test": {"endpoint": token.url}, "p.test": {"endpoint": basic.url}}}
    dockerfile = (
        "FROM t.test/library/python:3.12-slim\nFROM t.test/myorg/app:1.0.0\n"
        "FROM p.test/library/python:3.12-slimm\nFROM p.test/myorg/private:1.0\n"
    )
    _, report, _ = run_check(tmp_path, dockerfile, config, docker_config=docker)
    assert {line: [rule for rule, _ in found] for line, found in by_line(report).items()} == {3: ["PF201"]}
    assert token_server.requests and {r.user for r in token_server.requests} == {None}


def test_token_realm_gets_the_password_the_registry_only_tokens(
    token_registry,
    token_server,
    make_shim,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The realm (another origin) gets Basic credentials, as the protocol says; the registry sees
    Bearer tokens only; a blob redirected to another origin arrives without any Authorization."""
    token_server.users[USER] = PASSWORD
    shim = make_shim(token_registry.hostport)
    shim.redirect_pattern = "/blobs/"
    docker = {"auths": {shim.hostport: {"auth": b64(f"{USER}:{PASSWORD}")}}}
    _, report, stderr = run_check(
        tmp_path,
        "FROM t.test/myorg/private:1.0\n",
        {"registries": {"t.test": {"endpoint": shim.url}}},
        "--platform",
        "linux/amd64",
        docker_config=docker,
    )
    assert by_line(report) == {}, stderr
    assert {r.user for r in token_server.requests} == {USER}
    sent = [r.authorization or "" for r in shim.requests]
    assert any(a.startswith("Bearer ") for a in sent) and not any(a.startswith("Basic") for a in sent)
    assert shim.redirected and [r.authorization for r in shim.redirected] == [None] * len(shim.redirected)


def test_link_to_another_origin_is_not_followed(planted_registry, make_shim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shim = make_shim(planted_registry.hostport)
    other = make_shim(planted_registry.hostport)  # a listener that must never hear from preflight
    shim.link_override = f'<http://localhost:{other.port}/v2/library/python/tags/list?last=3.12&n=1000>; rel="next"'
    docker = {"auths": {shim.hostport: {"auth": b64(f"{USER}:{PASSWORD}")}}}
    _, report, _ = run_check(
        tmp_path,
        "FROM p.test/library/python:3.12-slimm\n",
        {"registries": {"p.test": {"endpoint": shim.url}}},
        docker_config=docker,
    )
    ((rule, message),) = by_line(report)[1]
    assert rule == "PF201" and 'did you mean "3.12-slim"?' in message
    pages = [r for r in shim.requests if "/tags/list" in r.path]
    assert pages and all((r.authorization or "").startswith("Basic ") for r in pages)
    assert other.requests == [] and other.redirected == []


SPY = """\
import json, socket, sys
_log = open(sys.argv[1], "a", encoding="utf-8")
def _record(kind, what):
    _log.write(json.dumps([kind, str(what)]) + "\\n")
    _log.flush()
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
def connect(self, address):
    _record("connect", address[0] if isinstance(address, tuple) else address)
    return _connect(self, address)
def connect_ex(self, address):
    _record("connect", address[0] if isinstance(address, tuple) else address)
    return _connect_ex(self, address)
def getaddrinfo(host, *args, **kwargs):
    _record("resolve", host)
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
sys.argv = ["preflight", *sys.argv[2:]]
from preflight.cli import main
main()
"""


def test_metadata_addresses_are_refused_without_a_connection(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The CLI runs under a socket spy: the metadata references are reported (PF208, address
    guard) and cause no connection and no DNS lookup; the open registry, in the same run, does
    (which shows the spy sees connections)."""
    refs = [
        "169.254.169.254/foo:1",
        "[fd00:ec2::254]/x:1",
        "metadata.google.internal/x:1",
        "[::ffff:a9fe:a9fe]/x:1",
        f"{registry.hostport}/library/python:3.12-slimm",
    ]
    (tmp_path / "Dockerfile").write_text("".join(f"FROM {r}\n" for r in refs))
    (tmp_path / ".preflight.yaml").write_text("{}")
    (tmp_path / "spy.py").write_text(SPY)
    log = tmp_path / "network.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "NO_PROXY": "127.0.0.1",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "spy.py"),
            str(log),
            "check",
            "Dockerfile",
            "--format",
            "json",
            "--no-cache",
            "--config",
            ".preflight.yaml",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(done.stdout)
    found = by_line(report)
    for line in (1, 2, 3, 4):
        ((rule, message),) = found[line]
        assert rule == "PF208" and "address guard" in message, found[line]
        assert "always refused" in message or "cloud metadata service" in message, found[line]
    assert found[5][0][0] == "PF201"
    events = [tuple(json.loads(row)) for row in log.read_text().splitlines()]
    assert {what for kind, what in events if kind == "connect"} == {"127.0.0.1"}, events
    assert not {what for kind, what in events if kind == "resolve"} & {
        "169.254.169.254",
        "fd00:ec2::254",
        "metadata.google.internal",
        "::ffff:a9fe:a9fe",
    }, events


def _mock_run(
    handler: Any, refs: list[str], tmp_path: Path, registries: dict[str, RegistryConfig], auths: dict[str, str]
) -> Any:
    """``batch.run`` over ``httpx.MockTransport``: for hosts that are not this machine."""
    (tmp_path / "docker").mkdir(exist_ok=True)
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"auths": {key: {"auth": b64(f"{USER}:{secret}")} for key, secret in auths.items()}})
    )
    config = Config(timeout=5, registries=registries, daemon_json=str(tmp_path / "no-daemon.json"))
    settings = Settings(config, {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}, use_cache=False)
    return asyncio.run(
        run(
            [Lookup(ImageRef.parse(r)) for r in refs],
            settings,
            inner=lambda verify, proxy: httpx.MockTransport(handler),
            limits=Limits(backoff=0.01),
            resolver=lambda host: ["93.184.216.34"],
        )
    )


def test_no_credentials_over_plain_http_to_another_machine(tmp_path: Path) -> None:
    seen: list[tuple[str, str | None]] = []
    manifest = {
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "docker-content-digest": "sha256:" + "a" * 64,
    }

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url.copy_with(query=None)), request.headers.get("authorization")))
        if request.url.scheme == "https" and request.url.host == "corp.example":
            raise httpx.ConnectError("All connection attempts failed", request=request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "anonymous-token"})
        if request.url.host == "127.0.0.2" and request.headers.get("authorization") != "Bearer anonymous-token":
            return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="http://auth.example/token"'})
        if request.url.host != "127.0.0.2" and "authorization" not in request.headers:
            return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})
        return httpx.Response(200, headers=manifest)

    registries = {
        "plain.example": RegistryConfig(endpoint="http://10.1.2.3:5000"),
        "corp.example:5000": RegistryConfig(insecure=True),
    }
    auths = {
        "10.1.2.3:5000": PASSWORD,
        "corp.example:5000": PASSWORD,
        "127.0.0.1:5000": PASSWORD,
        "127.0.0.2:5000": PASSWORD,
    }
    res = _mock_run(
        registry,
        ["plain.example/o/app:1", "corp.example:5000/o/app:1", "127.0.0.1:5000/o/app:1", "127.0.0.2:5000/o/app:1"],
        tmp_path,
        registries,
        auths,
    )
    status = {ref.split("/")[0]: facts.status for ref, facts in res.facts.items()}
    assert status == {
        "plain.example": Status.AUTH_REQUIRED,
        "corp.example:5000": Status.AUTH_REQUIRED,
        "127.0.0.1:5000": Status.OK,
        "127.0.0.2:5000": Status.OK,
    }
    sent = {url.split("/")[2] for url, auth in seen if auth is not None and auth.startswith("Basic ")}
    assert sent == {"127.0.0.1:5000"}  # loopback only; the control shows credentials do get sent there
    assert ("http://auth.example/token", None) in seen  # a plain-HTTP realm elsewhere: asked anonymously
    assert sum("were not sent" in w and "plain HTTP" in w for w in res.warnings) == 3, res.warnings
