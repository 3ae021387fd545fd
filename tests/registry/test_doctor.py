"""``preflight doctor`` step by step against real servers: the open registry, a closed port, a TLS
registry with an untrusted and a trusted certificate, the basic-auth and token registries, the fault
proxy (outage, rate limit) and a real engine. The CLI's exit codes and JSON."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from preflight.doctor.connect import diagnose_endpoint
from preflight.doctor.steps import Section
from preflight.imageref import ImageRef
from preflight.registry.credentials import Credential
from preflight.registry.endpoints import Endpoint

from .dockerd import Dockerd
from .fault_proxy import FaultProxy
from .servers import BasicRegistry, OpenRegistry, TLSRegistry, TokenRegistry

ENV = {"NO_PROXY": "127.0.0.1,localhost"}


def _endpoint(base: str, *, insecure: bool = True, ca: str | None = None) -> Endpoint:
    host = base.split("://", 1)[1]
    return Endpoint(base, host, insecure, ca, False, host)


def _steps(section: Section) -> list[tuple[str, bool, str]]:
    return [(s.name, s.ok, s.cause) for s in section.steps]


def test_healthy_open_registry(registry: OpenRegistry) -> None:
    ref = ImageRef.parse(f"{registry.hostport}/library/python:3.12-slim")
    section = diagnose_endpoint(_endpoint(registry.url), ref, None, ENV, 5)
    assert _steps(section) == [
        ("DNS", True, ""),
        ("TCP", True, ""),
        ("GET /v2/", True, ""),
        ("manifest HEAD", True, ""),
    ]
    assert "sha256:" in section.steps[-1].detail and "API version registry/2.0" in section.steps[2].detail


def test_closed_port_stops_at_tcp(closed_port: int) -> None:
    ref = ImageRef.parse(f"127.0.0.1:{closed_port}/app:1")
    section = diagnose_endpoint(_endpoint(f"http://127.0.0.1:{closed_port}"), ref, None, ENV, 5)
    assert _steps(section) == [("DNS", True, ""), ("TCP", False, "firewall/refused")]
    assert section.steps[-1].next


def test_dns_failure_names_dns() -> None:
    def no_such_name(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    ref = ImageRef.parse("registry.invalid/app:1")
    section = diagnose_endpoint(_endpoint("https://registry.invalid", insecure=False), ref, None, ENV, 5, no_such_name)
    assert _steps(section) == [("DNS", False, "DNS")]


def test_tls_untrusted_then_trusted(tls_registry: TLSRegistry) -> None:
    ref = ImageRef.parse(f"{tls_registry.hostport}/library/python:3.12-slim")
    untrusted = diagnose_endpoint(_endpoint(tls_registry.url, insecure=False), ref, None, ENV, 5)
    assert _steps(untrusted)[-1] == ("TLS", False, "TLS") and "not trusted" in untrusted.steps[-1].detail
    trusted = diagnose_endpoint(
        _endpoint(tls_registry.url, insecure=False, ca=str(tls_registry.ca_path)), ref, None, ENV, 5
    )
    assert [name for name, ok, _ in _steps(trusted) if ok] == ["DNS", "TCP", "TLS", "GET /v2/", "manifest HEAD"]
    tls = trusted.steps[2].detail
    assert tls.startswith("TLS") and "expires in" in tls and "verified (ca-file" in tls


def test_basic_auth_without_and_with_credentials(basic_registry: BasicRegistry) -> None:
    ref = ImageRef.parse(f"{basic_registry.hostport}/library/python:3.12-slim")
    anonymous = diagnose_endpoint(_endpoint(basic_registry.url), ref, None, ENV, 5)
    assert _steps(anonymous)[-1] == ("manifest HEAD", False, "authentication")
    cred = Credential(basic_registry.username, basic_registry.password, "basic", "config.json")
    logged_in = diagnose_endpoint(_endpoint(basic_registry.url), ref, cred, ENV, 5)
    assert all(ok for _, ok, _ in _steps(logged_in))
    assert basic_registry.password not in json.dumps([s.detail for s in logged_in.steps])


def test_token_registry_anonymous_and_refused(token_registry: TokenRegistry, token_server) -> None:  # type: ignore[no-untyped-def]
    public = ImageRef.parse(f"{token_registry.hostport}/library/python:3.12-slim")
    section = diagnose_endpoint(_endpoint(token_registry.url), public, None, ENV, 5)
    assert [n for n, ok, _ in _steps(section) if ok] == ["DNS", "TCP", "GET /v2/", "token", "manifest HEAD"]
    assert "anonymous" in section.steps[3].detail and "bearer" in section.steps[2].detail
    private = ImageRef.parse(f"{token_registry.hostport}/myorg/private:1.0")
    refused = diagnose_endpoint(_endpoint(token_registry.url), private, None, ENV, 5)
    assert _steps(refused)[-1] == ("manifest HEAD", False, "authentication")


@pytest.mark.parametrize(("status", "cause"), [(503, "registry outage"), (429, "rate limit")])
def test_fault_proxy_outage_and_rate_limit(proxy: FaultProxy, status: int, cause: str) -> None:
    proxy.fail_next(100, status)
    ref = ImageRef.parse(f"{proxy.hostport}/library/python:3.12-slim")
    section = diagnose_endpoint(_endpoint(proxy.url), ref, None, ENV, 5)
    assert _steps(section)[-1] == ("GET /v2/", False, cause)


def test_missing_tag_is_not_found(registry: OpenRegistry) -> None:
    ref = ImageRef.parse(f"{registry.hostport}/library/python:3.12-slimm")
    section = diagnose_endpoint(_endpoint(registry.url), ref, None, ENV, 5)
    assert _steps(section)[-1] == ("manifest HEAD", False, "not found")


def _doctor(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preflight", "doctor", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_healthy_with_engine_then_problems_and_usage(
    docker_engine: Dockerd, registry: OpenRegistry, closed_port: int, tmp_path: Path
) -> None:
    held = f"{registry.hostport}/library/python:3.12-slim"
    docker_engine.run(["pull", held])
    env = docker_engine.env(HOME=str(tmp_path))
    healthy = _doctor(["--format", "json", held], tmp_path, env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    data = json.loads(healthy.stdout)
    assert data["ok"] is True
    engine = next(c for c in data["checks"] if c["title"] == "engine")
    details = " ".join(s["detail"] for s in engine["steps"])
    assert "Docker 20" in details and "GiB free" in details
    assert f"holds {held}" in details

    broken = _doctor([held, f"127.0.0.1:{closed_port}/app:1"], tmp_path, env)
    assert broken.returncode == 1
    assert (
        "✗ TCP" in broken.stdout and "cause: firewall/refused" in broken.stdout and "✓ manifest HEAD" in broken.stdout
    )

    (tmp_path / "Dockerfile").write_text(f"FROM {held}\n")
    from_project = _doctor([], tmp_path, {**env, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert from_project.returncode == 1 and "✗ engine" in from_project.stdout

    assert _doctor(["Not A Reference"], tmp_path, env).returncode == 2
    (tmp_path / "Dockerfile").unlink()
    assert _doctor([], tmp_path, env).returncode == 2


def test_credentials_come_from_docker_config_and_never_show(basic_registry: BasicRegistry, tmp_path: Path) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{basic_registry.username}:{basic_registry.password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {basic_registry.hostport: {"auth": auth}}}))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(config), **ENV}
    result = _doctor(["--engine", "off", f"{basic_registry.hostport}/library/python:3.12-slim"], tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert basic_registry.password not in result.stdout and auth not in result.stdout
    assert "credentials from" in result.stdout
