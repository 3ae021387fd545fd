"""``preflight doctor`` against a hostile registry on 127.0.0.1: what it prints and where it sends
the user's credentials follow the registry client's rules.

* Header values (``Docker-Distribution-Api-Version``, ``Docker-Content-Digest``, ``Content-Type``)
  are printed with every non-printable character escaped (before: a bidi override and a C1 CSI
  reached the terminal raw, in text and JSON).
* A token realm on a cloud metadata address is refused without a connection (before: asked, with
  the user's password), and a password never goes to a plain-HTTP realm on another machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight.doctor.connect import diagnose_endpoint
from preflight.imageref import ImageRef
from preflight.registry.credentials import Credential
from preflight.registry.endpoints import Endpoint

from .httpthread import BackgroundHTTPServer, QuietHandler

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "\u202e\u009b31m\u200b".encode()  # right-to-left override, C1 CSI, zero-width space


class Hostile(QuietHandler):
    realm = ""

    def raw(self, status: str, headers: list[tuple[bytes, bytes]]) -> None:
        head = b"HTTP/1.1 " + status.encode() + b"\r\nContent-Length: 0\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        self.wfile.write(head + b"\r\n")

    def do_GET(self) -> None:
        if self.realm and "Authorization" not in self.headers:
            self.raw("401 Unauthorized", [(b"WWW-Authenticate", f'Bearer realm="{self.realm}",service="x"'.encode())])
        elif self.path.startswith("/v2/") and "/manifests/" not in self.path:
            self.raw("200 OK", [(b"Docker-Distribution-Api-Version", b"registry/2.0" + HOSTILE)])
        else:
            self.raw("200 OK", [(b"Docker-Content-Digest", b"sha256:" + HOSTILE), (b"Content-Type", HOSTILE)])

    do_HEAD = do_GET


def start(realm: str = "") -> BackgroundHTTPServer:
    return BackgroundHTTPServer(type("H", (Hostile,), {"realm": realm}), "hostile-doctor").start()


@pytest.fixture
def hostile() -> Iterator[BackgroundHTTPServer]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_registry_headers_are_printed_escaped(tmp_path: Path, hostile: BackgroundHTTPServer, fmt: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    cmd = [sys.executable, "-m", "preflight", "doctor", "--format", fmt, "--timeout", "3", f"{hostile.hostport}/x:1"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    assert "registry/2.0" in done.stdout
    assert all(c.isprintable() or c == "\n" for c in done.stdout), ascii(done.stdout)
    if fmt == "json":
        json.loads(done.stdout)


def _endpoint(base: str) -> Endpoint:
    host = base.split("://", 1)[1]
    return Endpoint(base, host, True, None, False, host)


@pytest.mark.parametrize(
    "realm,cause",
    [("http://169.254.169.254/latest/meta-data/", "blocked"), ("http://metadata.google.internal/token", "blocked")],
)
def test_a_token_realm_on_a_metadata_address_is_refused(realm: str, cause: str) -> None:
    server = start(realm)
    try:
        ref = ImageRef.parse(f"{server.hostport}/x:1")
        cred = Credential("user", "s3cret-password", "basic", "config.json")
        section = diagnose_endpoint(_endpoint(server.url), ref, cred, dict(os.environ), 3)
    finally:
        server.stop()
    token = [s for s in section.steps if s.name == "token"]
    assert token and not token[0].ok and token[0].cause == cause, section.steps


def test_a_password_never_goes_to_a_plain_http_realm_elsewhere() -> None:
    server = start("http://192.0.2.1/token")  # TEST-NET-1: another machine, plain HTTP
    try:
        ref = ImageRef.parse(f"{server.hostport}/x:1")
        cred = Credential("user", "s3cret-password", "basic", "config.json")
        section = diagnose_endpoint(_endpoint(server.url), ref, cred, dict(os.environ), 2)
    finally:
        server.stop()
    token = [s for s in section.steps if s.name == "token"]
    assert token and not token[0].ok and "plain HTTP" in token[0].detail, section.steps
