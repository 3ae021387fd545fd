"""Endpoint selection: Hub and mirrors, insecure registries (loopback, daemon.json, CIDR), overrides, CAs, TLS contexts."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trustme
from fake_dns import fake_dns as dns
from fake_dns import no_dns

from preflight.config import Config, RegistryConfig
from preflight.registry.endpoints import (
    DaemonConfig,
    Endpoint,
    config_warnings,
    endpoints_for,
    is_insecure,
    load_daemon_json,
)
from preflight.registry.tls import CAError, ssl_context_for

NO_DAEMON = DaemonConfig()
HUB = Endpoint("https://registry-1.docker.io", "registry-1.docker.io", False, None, False, "docker.io")


def endpoints(domain: str, config: Config = Config(), daemon: DaemonConfig = NO_DAEMON, **kwargs) -> list[Endpoint]:
    kwargs.setdefault("resolve", no_dns)
    kwargs.setdefault("certs_dir", None)
    return endpoints_for(domain, config, daemon, **kwargs)


def bases(found: list[Endpoint]) -> list[str]:
    return [endpoint.base_url for endpoint in found]


# ------------------------------------------------------------------ Hub and mirrors
def test_docker_hub_without_mirrors() -> None:
    assert endpoints("docker.io") == [HUB]


def test_hub_aliases_use_hub_endpoint_and_credentials() -> None:
    daemon = DaemonConfig(mirrors=("https://mirror.example.com",))
    mirror = Endpoint("https://mirror.example.com", "mirror.example.com", False, None, True, "mirror.example.com")
    assert endpoints("index.docker.io", daemon=daemon) == [mirror, HUB]
    assert endpoints("registry-1.docker.io", daemon=daemon) == [HUB]  # no mirrors, as moby


def test_mirrors_config_first_then_daemon_then_hub() -> None:
    config = Config(
        registries={"docker.io": RegistryConfig(mirrors=("https://cfg.example.com/", "http://10.0.0.5:5000"))}
    )
    daemon = DaemonConfig(
        mirrors=("https://daemon.example.com", "https://cfg.example.com"), source="/etc/docker/daemon.json"
    )
    found = endpoints("docker.io", config, daemon)
    assert bases(found) == [
        "https://cfg.example.com",
        "http://10.0.0.5:5000",
        "https://daemon.example.com",
        HUB.base_url,
    ]
    assert [e.mirror for e in found] == [True, True, True, False]
    # a mirror gets the credentials of its own host, never Hub's
    assert [e.credential_domain for e in found] == [
        "cfg.example.com",
        "10.0.0.5:5000",
        "daemon.example.com",
        "docker.io",
    ]
    assert [e.insecure for e in found] == [False, True, False, False]  # http:// mirror = plain HTTP


def test_mirrors_apply_only_to_docker_io() -> None:
    config = Config(registries={"ghcr.io": RegistryConfig(mirrors=("https://m.example.com",))})
    assert bases(endpoints("ghcr.io", config, DaemonConfig(mirrors=("https://m2.example.com",)))) == ["https://ghcr.io"]
    assert any("only docker.io" in warning for warning in config_warnings(config))


def test_invalid_config_mirror_is_skipped_with_a_warning() -> None:
    config = Config(
        registries={
            "docker.io": RegistryConfig(
                mirrors=("ftp://x.example", "https://u:SECRET@m.example.com", "https://ok.example")
            )
        },
        source="/repo/.preflight.yaml",
    )
    assert bases(endpoints("docker.io", config)) == ["https://ok.example", HUB.base_url]
    warnings = config_warnings(config)
    assert len(warnings) == 2 and all("/repo/.preflight.yaml" in w for w in warnings)
    assert "scheme must be http or https" in warnings[0]
    assert "credentials" in warnings[1] and "SECRET" not in warnings[1]


# ------------------------------------------------------------------ other registries
def test_other_registries_use_https_and_keep_the_port() -> None:
    assert endpoints("ghcr.io") == [Endpoint("https://ghcr.io", "ghcr.io", False, None, False, "ghcr.io")]
    assert bases(endpoints("registry.example.com:8443")) == ["https://registry.example.com:8443"]


@pytest.mark.parametrize("domain", ["127.0.0.1:5000", "localhost:5000", "localhost", "[::1]:5000", "127.9.9.9"])
def test_loopback_is_plain_http(domain: str) -> None:
    assert endpoints(domain) == [Endpoint(f"http://{domain}", domain, True, None, False, domain)]


@pytest.mark.parametrize("domain", ["127.0.0.1:5000", "localhost:5000", "[::1]:5000"])
def test_strict_loopback_verifies_tls(domain: str) -> None:
    assert endpoints(domain, strict_loopback=True) == [
        Endpoint(f"https://{domain}", domain, False, None, False, domain)
    ]


def test_daemon_insecure_host_port_is_exact_and_tries_https_then_http() -> None:
    daemon = DaemonConfig(insecure=("myreg.corp:5000",))
    found = endpoints("myreg.corp:5000", daemon=daemon)
    assert [(e.base_url, e.insecure) for e in found] == [
        ("https://myreg.corp:5000", True),
        ("http://myreg.corp:5000", True),
    ]
    assert endpoints("myreg.corp", daemon=daemon) == [
        Endpoint("https://myreg.corp", "myreg.corp", False, None, False, "myreg.corp")
    ]
    assert endpoints("myreg.corp:5001", daemon=daemon)[0].insecure is False


def test_daemon_insecure_cidr_matches_resolved_names_and_literals() -> None:
    daemon = DaemonConfig(insecure=("10.0.0.0/8", "fd00:1::/64"))
    resolve = dns({"inside.corp": ["10.20.30.40"], "outside.corp": ["192.0.2.1"], "v6.corp": ["fd00:1::5"]})
    assert is_insecure("inside.corp:5000", Config(), daemon, strict_loopback=False, resolve=resolve)
    assert is_insecure("v6.corp", Config(), daemon, strict_loopback=False, resolve=resolve)
    assert not is_insecure("outside.corp", Config(), daemon, strict_loopback=False, resolve=resolve)
    assert not is_insecure("unknown.corp", Config(), daemon, strict_loopback=False, resolve=resolve)  # DNS failure
    assert is_insecure("10.9.9.9:443", Config(), daemon, strict_loopback=False, resolve=no_dns)
    assert bases(endpoints("inside.corp:5000", daemon=daemon, resolve=resolve)) == [
        "https://inside.corp:5000",
        "http://inside.corp:5000",
    ]


def test_no_dns_without_cidrs() -> None:
    assert not is_insecure(
        "ghcr.io", Config(), DaemonConfig(insecure=("other:5000",)), strict_loopback=False, resolve=no_dns
    )


def test_config_insecure_and_strict_loopback() -> None:
    config = Config(
        registries={"reg.internal": RegistryConfig(insecure=True), "127.0.0.1:5000": RegistryConfig(insecure=True)}
    )
    assert is_insecure("reg.internal", config, NO_DAEMON, strict_loopback=True)
    assert not is_insecure("127.0.0.1:5001", config, NO_DAEMON, strict_loopback=True)
    # explicitly insecure loopback under strict mode: Docker's unverified HTTPS, then HTTP
    found = endpoints("127.0.0.1:5000", config, strict_loopback=True)
    assert [(e.base_url, e.insecure) for e in found] == [
        ("https://127.0.0.1:5000", True),
        ("http://127.0.0.1:5000", True),
    ]


def test_endpoint_override_points_a_domain_elsewhere_with_its_own_credentials() -> None:
    # the override may come from the checked repository: ghcr.io's credentials must not follow it
    config = Config(registries={"ghcr.io": RegistryConfig(endpoint="http://127.0.0.1:5000/")})
    assert endpoints("ghcr.io", config) == [
        Endpoint("http://127.0.0.1:5000", "127.0.0.1:5000", True, None, False, "127.0.0.1:5000")
    ]
    tls = Config(registries={"ghcr.io": RegistryConfig(endpoint="https://Evil.Example:5443", ca_file="/ca.pem")})
    assert endpoints("ghcr.io", tls) == [
        Endpoint("https://evil.example:5443", "evil.example:5443", False, "/ca.pem", False, "evil.example:5443")
    ]


def test_endpoint_override_of_docker_io_replaces_mirrors() -> None:
    config = Config(
        registries={"docker.io": RegistryConfig(endpoint="http://127.0.0.1:5000", mirrors=("https://m.example",))}
    )
    daemon = DaemonConfig(mirrors=("https://daemon.example",))
    for domain in ("docker.io", "registry-1.docker.io"):
        assert endpoints(domain, config, daemon) == [
            Endpoint("http://127.0.0.1:5000", "127.0.0.1:5000", True, None, False, "127.0.0.1:5000")
        ]
    assert any("ignored because an endpoint is set" in w for w in config_warnings(config))


def test_invalid_endpoint_override_is_ignored_with_a_warning() -> None:
    config = Config(registries={"ghcr.io": RegistryConfig(endpoint="https://127.0.0.1:5000/v2/")})
    assert bases(endpoints("ghcr.io", config)) == ["https://ghcr.io"]
    assert "must not end in /v2" in config_warnings(config)[0]
    for bad in ("https://h.example/a//b", "https://h.example/a/../b", "https://user:pw@h.example/a"):
        assert bases(endpoints("ghcr.io", Config(registries={"ghcr.io": RegistryConfig(endpoint=bad)}))) == [
            "https://ghcr.io"
        ]


def test_endpoint_with_a_path_prefix_artifactory_nexus() -> None:
    """Artifactory's repository path method (``/artifactory/api/docker/<repo>``) or a reverse proxy's
    prefix: the endpoint keeps the path, its host is the host alone (TLS scope, credentials)."""
    url = "https://Art.Example.com/artifactory/api/docker/docker-remote/"
    config = Config(registries={"docker.io": RegistryConfig(endpoint=url, mirrors=("https://m.example",))})
    expected = Endpoint(
        "https://art.example.com/artifactory/api/docker/docker-remote",
        "art.example.com",
        False,
        None,
        False,
        "art.example.com",
    )
    assert endpoints("docker.io", config) == [expected]
    assert config_warnings(config) == (
        "mirrors of registry 'docker.io' in the preflight configuration are ignored because an endpoint is set",
    )
    nexus = Config(registries={"nexus.example.com": RegistryConfig(endpoint="http://127.0.0.1:8081/repository/docker")})
    assert endpoints("nexus.example.com", nexus) == [
        Endpoint("http://127.0.0.1:8081/repository/docker", "127.0.0.1:8081", True, None, False, "127.0.0.1:8081")
    ]


def test_mirrors_still_must_not_have_a_path() -> None:
    config = Config(registries={"docker.io": RegistryConfig(mirrors=("https://m.example/prefix",))})
    assert bases(endpoints("docker.io", config)) == ["https://registry-1.docker.io"]
    assert "must not have a path" in config_warnings(config)[0]


# ------------------------------------------------------------------ daemon.json
def test_load_daemon_json(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(
        json.dumps(
            {
                "registry-mirrors": ["https://Mirror.Example.com/", "https://bad.example/path", "mirror.example"],
                "insecure-registries": ["myreg:5000", "10.0.0.0/8", "http://x:5000", "10.0.0.0/99"],
                "debug": True,
            }
        )
    )
    daemon, warnings = load_daemon_json(path)
    assert daemon == DaemonConfig(("https://mirror.example.com",), ("myreg:5000", "10.0.0.0/8"), str(path))
    assert len(warnings) == 4 and all(str(path) in w for w in warnings)


def test_daemon_json_missing_or_malformed(tmp_path: Path) -> None:
    assert load_daemon_json(tmp_path / "absent.json") == (DaemonConfig(), ())
    bad = tmp_path / "daemon.json"
    bad.write_text("{oops")
    daemon, warnings = load_daemon_json(bad)
    assert daemon == DaemonConfig() and len(warnings) == 1 and "not valid JSON" in warnings[0]
    bad.write_text('{"registry-mirrors": "https://m.example"}')
    daemon, warnings = load_daemon_json(bad)
    assert daemon.mirrors == () and "not a list of strings" in warnings[0]


# ------------------------------------------------------------------ CAs and TLS contexts
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str) -> None:
    """A TLS handshake in memory; raises ssl.SSLError when the client rejects the server."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_obj = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_obj = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, obj, out, peer_in in (("client", client_obj, c_out, s_in), ("server", server_obj, s_out, c_in)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def endpoint(ca_file: str | None, insecure: bool = False) -> Endpoint:
    return Endpoint("https://127.0.0.1:5443", "127.0.0.1:5443", insecure, ca_file, False, "127.0.0.1:5443")


def test_context_trusts_the_configured_ca(ca: trustme.CA, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    handshake(ssl_context_for(endpoint(str(pem))), server_context(ca), "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl_context_for(endpoint(None)), server_context(ca), "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):  # hostname still checked
        handshake(ssl_context_for(endpoint(str(pem))), server_context(ca), "example.com")


def test_insecure_context_verifies_nothing(ca: trustme.CA) -> None:
    context = ssl_context_for(endpoint(None, insecure=True))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    handshake(context, server_context(ca), "example.com")


def test_contexts_are_shared_per_ca_and_mode(tmp_path: Path, ca: trustme.CA) -> None:
    pem = tmp_path / "shared.pem"
    ca.cert_pem.write_to_path(str(pem))
    assert ssl_context_for(endpoint(str(pem))) is ssl_context_for(
        Endpoint("https://x", "x", False, str(pem), True, "x")
    )
    assert ssl_context_for(endpoint(None)) is ssl_context_for(endpoint(None))
    assert ssl_context_for(endpoint(None)) is not ssl_context_for(endpoint(None, insecure=True))


def test_certs_d_directory(tmp_path: Path, ca: trustme.CA) -> None:
    certs = tmp_path / "certs.d"
    (certs / "127.0.0.1:5443").mkdir(parents=True)
    ca.cert_pem.write_to_path(str(certs / "127.0.0.1:5443" / "ca.crt"))
    (certs / "other:5000").mkdir()  # no *.crt: ignored
    config = Config(registries={"ghcr.io": RegistryConfig(endpoint="https://127.0.0.1:5443")})
    (found,) = endpoints("ghcr.io", config, strict_loopback=True, certs_dir=certs)
    assert found.ca_file == str(certs / "127.0.0.1:5443")
    handshake(ssl_context_for(found), server_context(ca), "127.0.0.1")
    assert endpoints("other:5000", certs_dir=certs)[0].ca_file is None


def _certs_dir(tmp_path: Path, host: str, *names: str) -> Path:
    directory = tmp_path / "certs.d" / host
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_text("")
    return tmp_path / "certs.d"


def test_certs_d_client_certificate_pair(tmp_path: Path) -> None:
    """Docker's convention: <name>.cert with <name>.key beside it, for verified HTTPS endpoints only."""
    certs = _certs_dir(tmp_path, "reg.example.com:5443", "ca.crt", "client.cert", "client.key", "z.cert", "z.key")
    (found,) = endpoints("reg.example.com:5443", certs_dir=certs)
    directory = certs / "reg.example.com:5443"
    assert found.ca_file == str(directory)
    assert found.client_cert == (str(directory / "client.cert"), str(directory / "client.key"))
    insecure = Config(registries={"reg.example.com:5443": RegistryConfig(insecure=True)})
    assert {e.client_cert for e in endpoints("reg.example.com:5443", insecure, certs_dir=certs)} == {None}
    ca_only = _certs_dir(tmp_path / "b", "reg.example.com", "ca.crt")
    assert endpoints("reg.example.com", certs_dir=ca_only)[0].client_cert is None
    pair_only = _certs_dir(tmp_path / "c", "reg.example.com", "me.cert", "me.key")
    (found,) = endpoints("reg.example.com", certs_dir=pair_only)
    assert found.ca_file is None and found.client_cert is not None


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("client.cert",), "missing key {d}/client.key for client certificate {d}/client.cert"),
        (("client.key",), "missing client certificate {d}/client.cert for key {d}/client.key"),
    ],
)
def test_half_a_client_pair_is_docker_s_error(tmp_path: Path, names: tuple[str, ...], message: str) -> None:
    certs = _certs_dir(tmp_path, "reg.example.com", *names)
    (found,) = endpoints("reg.example.com", certs_dir=certs)
    with pytest.raises(CAError) as error:
        ssl_context_for(found)
    assert str(error.value) == message.format(d=certs / "reg.example.com")


def test_client_key_is_loaded_never_shown_and_never_prompted_for(tmp_path: Path, ca: trustme.CA) -> None:
    leaf = ca.issue_cert("client.example")
    certs = _certs_dir(tmp_path, "reg.example.com")
    directory = certs / "reg.example.com"
    leaf.cert_chain_pems[0].write_to_path(str(directory / "client.cert"))
    leaf.private_key_pem.write_to_path(str(directory / "client.key"))
    (found,) = endpoints("reg.example.com", certs_dir=certs)
    context = ssl_context_for(found)
    assert context is ssl_context_for(found) and context is not ssl_context_for(endpoint(None))
    # an encrypted key: refused with a message, never an OpenSSL passphrase prompt on the terminal
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    other = _certs_dir(tmp_path / "enc", "reg.example.com")
    leaf.cert_chain_pems[0].write_to_path(str(other / "reg.example.com" / "client.cert"))
    (other / "reg.example.com" / "client.key").write_bytes(encrypted)
    (found,) = endpoints("reg.example.com", certs_dir=other)
    with pytest.raises(CAError, match="is encrypted") as error:
        ssl_context_for(found)
    assert "PRIVATE KEY" not in str(error.value)
    garbage = _certs_dir(tmp_path / "bad", "reg.example.com")
    (garbage / "reg.example.com" / "client.cert").write_text("not a certificate")
    (garbage / "reg.example.com" / "client.key").write_bytes(leaf.private_key_pem.bytes())
    (found,) = endpoints("reg.example.com", certs_dir=garbage)
    with pytest.raises(CAError, match="cannot load client certificate") as error:
        ssl_context_for(found)
    assert "PRIVATE KEY" not in str(error.value)


def test_unloadable_ca_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(CAError, match="garbage.pem"):
        ssl_context_for(endpoint(str(garbage)))
    with pytest.raises(CAError, match="missing.pem"):
        ssl_context_for(endpoint(str(tmp_path / "missing.pem")))
    assert (
        "does not exist"
        in config_warnings(Config(registries={"r": RegistryConfig(ca_file=str(tmp_path / "missing.pem"))}))[0]
    )
