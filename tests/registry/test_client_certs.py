"""Mutual TLS with Docker's certs.d convention, against a real Distribution registry that requires
client certificates (``http.tls.clientcas``): ``certs.d/<host:port>/ca.crt`` for the server,
``client.cert``/``client.key`` for the client (``Settings.certs_dir`` points at a temporary directory)."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from preflight.config import Config
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Resolution, Settings, resolve

from .servers import OpenRegistry, start_registry

REFERENCE = "library/python:3.12-slim"


@dataclass(frozen=True)
class MutualTLSRegistry:
    hostport: str
    server_ca: trustme.CA
    client: trustme.LeafCert  # issued by the CA the registry trusts for clients


@pytest.fixture(scope="module")
def mtls_registry(registry: OpenRegistry, registry_bin: str, registry_workdir: Path) -> Iterator[MutualTLSRegistry]:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    workdir = registry_workdir / "mtls"
    workdir.mkdir(exist_ok=True)
    leaf = server_ca.issue_cert("127.0.0.1", "localhost")
    cert, key = workdir / "server.crt", workdir / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    client_ca_path = workdir / "client-ca.pem"
    client_ca.cert_pem.write_to_path(str(client_ca_path))
    client = client_ca.issue_cert("preflight-client")
    ready = ssl.create_default_context()
    server_ca.configure_trust(ready)
    client.configure_cert(ready)  # the readiness ping must present one too
    process = start_registry(
        registry_bin,
        workdir,
        registry.root,
        name="mtls",
        tls={"certificate": str(cert), "key": str(key), "clientcas": [str(client_ca_path)]},  # type: ignore[dict-item]
        ready_context=ready,
    )
    try:
        yield MutualTLSRegistry(process.hostport, server_ca, client)
    finally:
        process.stop()


def _certs_d(tmp_path: Path, reg: MutualTLSRegistry, *, ca: bool = True, cert: bool = True, key: bool = True) -> Path:
    directory = tmp_path / "certs.d" / reg.hostport
    directory.mkdir(parents=True)
    if ca:
        reg.server_ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    if cert:
        reg.client.cert_chain_pems[0].write_to_path(str(directory / "client.cert"))
    if key:
        reg.client.private_key_pem.write_to_path(str(directory / "client.key"))
    return tmp_path / "certs.d"


def _resolve(reg: MutualTLSRegistry, certs_dir: Path, tmp_path: Path) -> Resolution:
    docker = tmp_path / "docker"
    docker.mkdir(exist_ok=True)
    (docker / "config.json").write_text(json.dumps({}))
    config = Config(timeout=10, daemon_json=str(tmp_path / "none.json"))
    settings = Settings(
        config,
        {"HOME": str(tmp_path), "DOCKER_CONFIG": str(docker), "NO_PROXY": "127.0.0.1"},
        use_cache=False,
        strict_loopback=True,  # loopback over verified HTTPS, as a remote registry would be
        certs_dir=certs_dir,
    )
    return resolve([Lookup(ImageRef.parse(f"{reg.hostport}/{REFERENCE}"))], settings)


def _one(res: Resolution):  # type: ignore[no-untyped-def]
    (facts,) = res.facts.values()
    return facts


def test_client_certificate_from_certs_d_opens_the_registry(
    mtls_registry: MutualTLSRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="preflight")
    facts = _one(_resolve(mtls_registry, _certs_d(tmp_path, mtls_registry), tmp_path))
    assert facts.status is Status.OK, facts.detail
    key_text = mtls_registry.client.private_key_pem.bytes().decode()
    key_body = "".join(key_text.splitlines()[1:-1])
    assert key_body[:40] not in caplog.text  # the key never reaches a log line
    assert "client.key" not in caplog.text


def test_without_a_client_certificate_the_handshake_fails_as_tls(
    mtls_registry: MutualTLSRegistry, tmp_path: Path
) -> None:
    facts = _one(_resolve(mtls_registry, _certs_d(tmp_path, mtls_registry, cert=False, key=False), tmp_path))
    assert facts.status is Status.TLS, (facts.status, facts.detail)
    assert "client certificate" in facts.detail


def test_a_certificate_without_its_key_is_named(mtls_registry: MutualTLSRegistry, tmp_path: Path) -> None:
    certs = _certs_d(tmp_path, mtls_registry, key=False)
    facts = _one(_resolve(mtls_registry, certs, tmp_path))
    assert facts.status is Status.TLS
    directory = certs / mtls_registry.hostport
    assert facts.detail == f"missing key {directory}/client.key for client certificate {directory}/client.cert"
