"""A real engine configured the less common ways: ``DOCKER_HOST=tcp://`` with ``DOCKER_TLS_VERIFY``
and ``DOCKER_CERT_PATH`` (mutual TLS, as ``dockerd --tlsverify`` requires), and an engine whose
pulls go through a proxy this shell does not use (``doctor`` says so).

One dockerd for the module: a Unix socket (for the fixture's own ``docker`` commands), a TLS TCP
listener on loopback, and ``HTTPS_PROXY`` in its environment (which ``/info`` reports).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from preflight.localengine import survey

from .dockerd import Dockerd, DockerdStartError, start_dockerd
from .servers import OpenRegistry

ENGINE_PROXY = "http://engine-proxy.invalid:3128"
HELD = "127.0.0.1:9/configured/held:1.0"
ABSENT = "127.0.0.1:9/configured/absent:1.0"


@dataclass(frozen=True)
class TLSEngine:
    engine: Dockerd
    host: str  # tcp://127.0.0.1:PORT
    certs: Path  # ca.pem, cert.pem, key.pem: the client side, as DOCKER_CERT_PATH holds them
    other_ca: Path  # ca.pem of a CA the engine's certificate is not from


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client_dir(directory: Path, ca: trustme.CA, leaf: trustme.LeafCert | None) -> Path:
    directory.mkdir(parents=True)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    if leaf is not None:
        leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    return directory


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSEngine]:
    work = tmp_path_factory.mktemp("tls-engine")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(work / "server.pem"))
    server.private_key_pem.write_to_path(str(work / "server-key.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    host = f"tcp://127.0.0.1:{_free_port()}"
    tls = ["--host", host, "--tlsverify", "--tlscacert", str(work / "ca.pem"),
           "--tlscert", str(work / "server.pem"), "--tlskey", str(work / "server-key.pem")]  # fmt: skip
    try:
        engine = start_dockerd(args=tls, environ={"HTTPS_PROXY": ENGINE_PROXY})
    except DockerdStartError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        engine.import_image(HELD)
        certs = _client_dir(work / "client", ca, ca.issue_cert("preflight-client"))
        other = _client_dir(work / "other", trustme.CA(), None)
        yield TLSEngine(engine, host, certs, other / "ca.pem")
    finally:
        engine.stop()


def _tls_env(found: TLSEngine, cert_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": found.host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)}


def test_docker_host_tcp_with_tls_verify_and_cert_path(tls_engine: TLSEngine) -> None:
    found = survey([HELD, ABSENT], _tls_env(tls_engine, tls_engine.certs), None, 5)
    assert found.facts is not None and found.facts.answered, found.facts
    assert found.facts.source == "DOCKER_HOST" and found.facts.endpoint == tls_engine.host
    assert found.facts.holds(HELD) is not None and found.facts.holds(ABSENT) is None
    assert found.info is not None and found.info.https_proxy == ENGINE_PROXY


def test_tls_without_a_client_certificate_or_with_another_ca_is_a_finding(
    tls_engine: TLSEngine, tmp_path: Path
) -> None:
    """dockerd --tlsverify refuses a client without a certificate; a CA that did not sign the
    engine's certificate fails verification: a configured engine that cannot be asked (PF212)."""
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    (ca_only / "ca.pem").write_bytes((tls_engine.certs / "ca.pem").read_bytes())
    no_cert = survey([HELD], _tls_env(tls_engine, ca_only), None, 5)
    assert no_cert.facts is not None and not no_cert.facts.answered
    assert "TLS" in no_cert.facts.detail and tls_engine.host in no_cert.facts.detail

    wrong_ca = tmp_path / "wrong-ca"
    wrong_ca.mkdir()
    for name in ("cert.pem", "key.pem"):
        (wrong_ca / name).write_bytes((tls_engine.certs / name).read_bytes())
    (wrong_ca / "ca.pem").write_bytes(tls_engine.other_ca.read_bytes())
    untrusted = survey([HELD], _tls_env(tls_engine, wrong_ca), None, 5)
    assert untrusted.facts is not None and not untrusted.facts.answered
    assert "TLS" in untrusted.facts.detail

    plain = survey([HELD], {"DOCKER_HOST": tls_engine.host}, None, 5)  # no DOCKER_TLS_VERIFY: plain HTTP
    assert plain.facts is not None and not plain.facts.answered


def _preflight(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run(
        [sys.executable, "-m", "preflight", *args],
        cwd=cwd,
        env={**run_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_over_tls_sees_the_local_copy_and_without_the_certificate_says_pf212(
    tls_engine: TLSEngine, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {HELD}\n")  # its registry (port 9) is closed
    args = ["check", "--no-cache", "--format", "json", "--timeout", "5", "."]
    held = _preflight(args, tmp_path, _tls_env(tls_engine, tls_engine.certs))
    rules = [f["rule"] for f in json.loads(held.stdout)["findings"]]
    assert rules == ["PF211"], held.stdout + held.stderr

    (tmp_path / "nocert").mkdir()
    down = _preflight(args, tmp_path, _tls_env(tls_engine, tmp_path / "nocert"))
    rules = sorted(f["rule"] for f in json.loads(down.stdout)["findings"])
    assert rules == ["PF208", "PF212"], down.stdout + down.stderr


def test_doctor_says_the_engines_proxy_differs_from_this_shells(
    tls_engine: TLSEngine, registry: OpenRegistry, tmp_path: Path
) -> None:
    ref = f"{registry.hostport}/library/python:3.12-slim"
    env = _tls_env(tls_engine, tls_engine.certs)
    differs = _preflight(["doctor", "--format", "json", ref], tmp_path, env)
    data = json.loads(differs.stdout)
    (engine,) = [c for c in data["checks"] if c["title"] == "engine"]
    (proxy,) = [s for s in engine["steps"] if s["name"] == "proxy"]
    assert ENGINE_PROXY in proxy["detail"] and "this shell uses no proxy" in proxy["detail"], proxy

    same = _preflight(["doctor", "--format", "json", ref], tmp_path, {**env, "HTTPS_PROXY": ENGINE_PROXY})
    data = json.loads(same.stdout)
    (engine,) = [c for c in data["checks"] if c["title"] == "engine"]
    (proxy,) = [s for s in engine["steps"] if s["name"] == "proxy"]
    assert "same HTTPS proxy" in proxy["detail"], proxy
