"""A repository's configuration against the runner (issue 8.3, 8.4), through the real CLI.

* ``daemon-json:`` in the project's ``.preflight.yaml`` naming ``{"insecure-registries": ["0.0.0.0/0"]}``
  turned TLS verification off, and the runner's stored Basic credentials went to an interceptor.
  Under ``--untrusted`` the key is dropped with a warning, and the interceptor (a loopback TLS server
  whose certificate nobody trusts, recording every request) receives nothing.
* Cache poisoning: repository 1 answered through an insecure endpoint (or its own CA) that
  ``<host>/...:9.99-nonexistent`` exists; repository 2, normal, then reported it fine with 0 requests.
  Now repository 2 asks the registry itself (and is told its certificate is not trusted).
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from .httpthread import BackgroundHTTPServer, QuietHandler
from .images import push_image

REPO = Path(__file__).resolve().parents[2]
SECRET = "PLANTED-runner-s3cret-4d1f"


class Interceptor(BackgroundHTTPServer):
    """A TLS server with a certificate from a CA nobody trusts; asks for Basic credentials and records."""

    scheme = "https"

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(QuietHandler):
            def handle_any(self) -> None:
                outer.seen.append((self.requestline, dict(self.headers.items())))
                self.send(401, b"{}", [("WWW-Authenticate", 'Basic realm="registry"')])

            do_GET = do_HEAD = handle_any

        super().__init__(Handler, "interceptor")
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes are the expected outcome


@pytest.fixture
def interceptor() -> Iterator[Interceptor]:
    server = Interceptor().start()
    try:
        yield server
    finally:
        server.stop()


def run(cwd: Path, home: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / "docker"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "preflight", "check", ".", "--format", "json", "--timeout", "10", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def user_home(tmp_path: Path, host: str) -> Path:
    home = tmp_path / "home"
    (home / "docker").mkdir(parents=True)
    auth = base64.b64encode(f"runner:{SECRET}".encode()).decode()
    (home / "docker" / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return home


@pytest.mark.parametrize("untrusted", [True, False], ids=["untrusted", "control-without-untrusted"])
def test_project_daemon_json_cannot_turn_tls_off_under_untrusted(
    interceptor: Interceptor, tmp_path: Path, untrusted: bool
) -> None:
    host = interceptor.hostport
    home = user_home(tmp_path, host)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text(f"FROM {host}/team/app:1.0\n")
    (repo / "daemon.json").write_text(json.dumps({"insecure-registries": ["0.0.0.0/0"]}))
    (repo / ".preflight.yaml").write_text("daemon-json: daemon.json\n")
    flags = ("--untrusted", "--allow-host", "127.0.0.1") if untrusted else ()
    _, report, stderr = run(repo, home, "--strict-loopback", "--no-cache", *flags)
    sent = [headers.get("Authorization", "") for _, headers in interceptor.seen]
    if not untrusted:  # the attack is real: with the project's daemon.json the credentials reach the interceptor
        assert base64.b64encode(f"runner:{SECRET}".encode()).decode() in " ".join(sent)
        return
    assert "daemon-json" in stderr and "ignored under --untrusted" in stderr
    assert interceptor.seen == []  # not one request line: the TLS handshake already fails
    assert [(f["rule"], "not trusted" in f["message"]) for f in report["findings"]] == [("PF208", True)]
    assert SECRET not in json.dumps(report) + stderr


@pytest.mark.parametrize(
    "lowered",
    [
        pytest.param(lambda tls: {tls.hostport: {"insecure": True, "endpoint": f"https://{tls.hostport}"}}, id="insecure"),
        pytest.param(lambda tls: {tls.hostport: {"ca-file": str(tls.ca_path)}}, id="project-ca-file"),
    ],
)  # fmt: skip
def test_an_answer_under_lowered_trust_is_never_read_under_normal_trust(
    registry, tls_registry, scratch_repo: str, tmp_path: Path, lowered: Any
) -> None:  # type: ignore[no-untyped-def]
    push_image(registry.url, scratch_repo, "9.99-nonexistent")  # what the impostor (tls_registry) serves
    home = tmp_path / "home"
    home.mkdir()
    dockerfile = f"FROM {tls_registry.hostport}/{scratch_repo}:9.99-nonexistent\n"
    first, second = tmp_path / "repo1", tmp_path / "repo2"
    for repo in (first, second):
        repo.mkdir()
        (repo / "Dockerfile").write_text(dockerfile)
    config = {"registries": lowered(tls_registry), "cache-ttl": 2_000_000_000, "cache-negative-ttl": 2_000_000_000}
    (first / ".preflight.yaml").write_text(json.dumps(config))

    code, report, stderr = run(first, home, "--strict-loopback")
    assert code == 0 and report["findings"] == [] and report["summary"]["requests"] > 0, stderr
    assert "cache-ttl" in stderr and "3600" in stderr  # the project's lifetime is not honoured
    cached = json.loads(next((home / "cache" / "preflight").glob("facts-*.json")).read_text())["entries"]
    assert cached and all(e["expires"] - e["written"] <= 3600 for e in cached.values())

    code, report, stderr = run(second, home, "--strict-loopback")
    assert report["summary"]["cache_hits"] == 0  # asked the registry itself (its TLS handshake fails: no answer)
    assert [(f["rule"], "not trusted" in f["message"]) for f in report["findings"]] == [("PF208", True)]
    assert code == 1
