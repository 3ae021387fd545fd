"""SSRF address guard: refused ranges, direct vs indirect private addresses, untrusted mode, DNS."""

from __future__ import annotations

import pytest
from fake_dns import fake_dns as dns
from fake_dns import no_dns

from preflight.registry.guard import Blocked, check_host, default_resolve

ALWAYS_REFUSED = [
    "169.254.169.254",
    "169.254.0.1:80",
    "[fe80::1]",
    "[fe80::1%25eth0]:5000",
    "[fd00:ec2::254]",
    "0.0.0.0",
    "0.0.0.0:5000",
    "[::]",
    "224.0.0.1",
    "239.255.255.250",
    "[ff02::1]",
    "255.255.255.255",
    "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "metadata.google.internal",
    "METADATA.GOOGLE.INTERNAL.",
]
RESTRICTED = [
    "127.0.0.1:5000",
    "127.8.9.10",
    "[::1]:5000",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1:443",
    "[fd12:3456::1]",
    "100.64.0.1",
    "100.127.255.254",
    "[::ffff:10.0.0.1]",
]
PUBLIC = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "[2001:4860:4860::8888]", "11.0.0.1"]


@pytest.mark.parametrize("host", ALWAYS_REFUSED)
@pytest.mark.parametrize("direct", [True, False])
def test_always_refused_even_when_direct(host: str, direct: bool) -> None:
    with pytest.raises(Blocked, match="always refused|cloud metadata"):
        check_host(host, direct=direct, registry_host=host, resolve=dns({}))


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]:5000", "metadata.google.internal"])
def test_allow_list_admits_refused_hosts_by_exact_host(host: str) -> None:
    check_host(host, direct=False, registry_host=None, allow_hosts=[host], resolve=dns({}))


@pytest.mark.parametrize("host", RESTRICTED)
def test_private_addresses_allowed_when_direct(host: str) -> None:
    check_host(host, direct=True, registry_host=host, resolve=no_dns)


@pytest.mark.parametrize("host", RESTRICTED)
def test_private_addresses_refused_when_indirect(host: str) -> None:
    with pytest.raises(Blocked, match="reached indirectly"):
        check_host(host, direct=False, registry_host="registry.example.com", resolve=no_dns)


def test_registry_own_host_is_allowed_indirectly_on_another_port() -> None:
    # a local registry on :5000 whose token realm is on :5001 of the same address
    check_host("127.0.0.1:5001", direct=False, registry_host="127.0.0.1:5000", resolve=no_dns)
    check_host("[::1]:6000", direct=False, registry_host="[::1]:5000", resolve=no_dns)
    with pytest.raises(Blocked):
        check_host("127.0.0.2:5001", direct=False, registry_host="127.0.0.1:5000", resolve=no_dns)


@pytest.mark.parametrize("host", RESTRICTED)
def test_untrusted_mode_refuses_private_even_when_direct(host: str) -> None:
    with pytest.raises(Blocked, match="untrusted"):
        check_host(host, direct=True, registry_host=host, untrusted=True, resolve=no_dns)
    check_host(host, direct=True, registry_host=host, untrusted=True, allow_hosts=[host], resolve=no_dns)


def test_allow_list_is_exact_not_suffix() -> None:
    resolve = dns({"evil.example.com": ["10.0.0.1"], "example.com": ["10.0.0.2"]})
    with pytest.raises(Blocked):
        check_host("evil.example.com", direct=False, registry_host=None, allow_hosts=["example.com"], resolve=resolve)
    check_host("example.com", direct=False, registry_host=None, allow_hosts=["EXAMPLE.com"], resolve=resolve)


@pytest.mark.parametrize("host", PUBLIC)
@pytest.mark.parametrize("untrusted", [True, False])
def test_public_addresses_pass(host: str, untrusted: bool) -> None:
    check_host(host, direct=False, registry_host=None, untrusted=untrusted, resolve=no_dns)


def test_names_are_resolved_and_any_bad_address_blocks() -> None:
    resolve = dns(
        {
            "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
            "mixed.example": ["93.184.216.34", "169.254.169.254"],
            "rebind.example": ["93.184.216.34", "10.0.0.7"],
            "localhost": ["127.0.0.1", "::1"],
        }
    )
    check_host("public.example", direct=False, registry_host=None, resolve=resolve)
    with pytest.raises(Blocked, match=r"mixed\.example \(169\.254\.169\.254\).*always refused"):
        check_host("mixed.example", direct=True, registry_host="mixed.example", resolve=resolve)
    with pytest.raises(
        Blocked,
        match=r"rebind\.example:443 \(10\.0\.0\.7\) is a private address reached indirectly.*--allow-host rebind\.example\)",
    ):
        check_host("rebind.example:443", direct=False, registry_host="registry.example", resolve=resolve)
    check_host("localhost:5000", direct=True, registry_host="localhost:5000", resolve=resolve)
    with pytest.raises(Blocked, match="loopback"):
        check_host("localhost:5001", direct=False, registry_host="ghcr.io", resolve=resolve)


def test_dns_failure_is_not_blocked() -> None:
    check_host("does-not-exist.invalid", direct=False, registry_host=None, untrusted=True, resolve=dns({}))


def test_default_resolver_handles_literals_and_failures() -> None:
    assert default_resolve("127.0.0.1") == ["127.0.0.1"]
    with pytest.raises(OSError):
        default_resolve("preflight-test.invalid")  # RFC 2606: never resolves


def test_realm_and_redirect_hosts_are_judged_as_indirect() -> None:
    # the transport runs check_host on every request: a token realm, redirect or Link is not ``direct``
    check_host("auth.example", direct=False, registry_host="reg.example", resolve=dns({"auth.example": ["1.2.3.4"]}))
    with pytest.raises(Blocked, match="always refused"):
        check_host("169.254.169.254", direct=False, registry_host=None, resolve=no_dns)
    # a local registry's token server on another port of the same address
    check_host("127.0.0.1:5001", direct=False, registry_host="127.0.0.1:5000", resolve=no_dns)
    with pytest.raises(Blocked, match="reached indirectly"):
        check_host("[::1]:9", direct=False, registry_host="ghcr.io", resolve=no_dns)


def test_message_names_the_host() -> None:
    with pytest.raises(Blocked) as caught:
        check_host("10.0.0.1", direct=False, registry_host=None, resolve=no_dns)
    assert "10.0.0.1" in str(caught.value)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "017700000001"])
def test_odd_ipv4_spellings_are_caught_through_the_resolver(host: str) -> None:
    # not IP literals for Python, but getaddrinfo (and so httpx) reads them as 127.0.0.1
    with pytest.raises(Blocked, match=r"\(127\.0\.0\.1\) is a loopback address reached indirectly"):
        check_host(host, direct=False, registry_host="ghcr.io")
