"""SSRF address guard (registry-protocol.md §9.3): may preflight connect to this host?

Files in a pull request can name any host, and a hostile registry can redirect, or put a token
``realm`` or a ``Link`` anywhere. The transport (``RegistryTransport``) calls ``check_host`` before
every request it sends: the registry itself, each redirect, token realm and ``Link`` page (schemes and
user information in those URLs are the client's and the auth flow's own checks).

* Always refused unless the exact host is allow-listed: link-local (169.254.0.0/16, fe80::/10,
  which hold cloud metadata services), ``fd00:ec2::254``, ``metadata.google.internal``,
  unspecified (0.0.0.0/8, ::), multicast, and the reserved 240.0.0.0/4 (broadcast).
* Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10) and CGNAT (100.64/10):
  allowed when the reference itself names the host (``direct``) or when the host name equals the
  registry's own (ports are not compared: a local registry's token server usually listens on another
  port of the same address); refused when reached indirectly otherwise; in ``untrusted`` mode refused
  unless allow-listed.
* Names are resolved (all addresses); one bad address blocks. A resolution failure is *not*
  ``Blocked``: the client reports DNS problems itself. IPv4-mapped (``::ffff:a.b.c.d``) and NAT64
  (``64:ff9b::/96``) addresses are judged by the IPv4 address inside.

DNS rebinding: a name is resolved once per run (``ResolveOnce``), the guard judges that answer,
and the transport connects to exactly those addresses (``pool.PinnedBackend``), keeping the
name for TLS (SNI, certificate check) and ``Host``. A second answer is never asked for, so a name
that resolves to a public or allowed address first and to 169.254.169.254 next cannot switch.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Collection

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

_REFUSED, _RESTRICTED = "refused", "restricted"
_SPECIAL = tuple(
    (ipaddress.ip_network(net), kind, label)
    for net, kind, label in (
        ("169.254.0.0/16", _REFUSED, "link-local, cloud metadata"),
        ("fe80::/10", _REFUSED, "link-local"),
        ("fd00:ec2::254/128", _REFUSED, "cloud metadata"),
        ("0.0.0.0/8", _REFUSED, "unspecified"),
        ("::/128", _REFUSED, "unspecified"),
        ("224.0.0.0/4", _REFUSED, "multicast"),
        ("ff00::/8", _REFUSED, "multicast"),
        ("240.0.0.0/4", _REFUSED, "reserved"),
        ("127.0.0.0/8", _RESTRICTED, "loopback"),
        ("::1/128", _RESTRICTED, "loopback"),
        ("10.0.0.0/8", _RESTRICTED, "private"),
        ("172.16.0.0/12", _RESTRICTED, "private"),
        ("192.168.0.0/16", _RESTRICTED, "private"),
        ("fc00::/7", _RESTRICTED, "private"),  # fd00:ec2::254 matched first: refused
        ("fec0::/10", _RESTRICTED, "private"),
        ("100.64.0.0/10", _RESTRICTED, "CGNAT"),
    )
)
_REFUSED_NAMES = frozenset({"metadata.google.internal"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Blocked(Exception):
    """The address guard refused a host; ``str(err)`` is a safe reason naming the host."""


def default_resolve(host: str) -> list[str]:
    """All addresses ``host`` resolves to (``getaddrinfo``); raises ``OSError`` when it does not."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen[str(info[4][0]).split("%", 1)[0]] = None
    return list(seen)


class ResolveOnce:
    """One DNS answer per name for a whole run, shared by the address guard and the connections.

    ``__call__`` (the guard's resolver) resolves a name the first time and returns the same list
    ever after; a failure is remembered too, except a temporary one (``EAI_AGAIN``), which the
    guard may retry. ``settled`` (the connection's) returns what the guard was told, resolving only
    a name nobody has resolved yet (an allow-listed host, or no guard); it never re-resolves after a
    failure. Thread-safe: the guard runs in worker threads."""

    def __init__(self, resolve: Resolver = default_resolve) -> None:
        self._resolve = resolve
        self._answers: dict[str, list[str] | OSError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.lookups = 0  # resolver calls made (tests: one per name)

    @staticmethod
    def _key(name: str) -> str:
        return name.strip("[]").lower().rstrip(".")

    def _answer(self, name: str, retry_transient: bool) -> list[str]:
        key = self._key(name)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            known = self._answers.get(key)
            transient = isinstance(known, socket.gaierror) and known.errno == socket.EAI_AGAIN
            if known is None or (transient and retry_transient):
                self.lookups += 1
                try:
                    known = list(self._resolve(key))
                except OSError as exc:
                    known = exc
                self._answers[key] = known
        if isinstance(known, OSError):
            raise known
        return list(known)

    def __call__(self, name: str) -> list[str]:
        return self._answer(name, retry_transient=True)

    def settled(self, name: str) -> list[str]:
        return self._answer(name, retry_transient=False)


def split_host(host: str) -> tuple[str, str | None]:
    """``host[:port]`` or ``[v6][:port]`` → (lower-case hostname without brackets or final dot, port)."""
    host = host.strip()
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host[1:end], host[end + 1 :]) if end > 0 else (host[1:], "")
        if rest.startswith(":"):
            port = rest[1:]
    elif host.count(":") == 1:
        name, port = host.split(":", 1)
    else:
        name = host  # a bare IPv6 literal or a plain name
    return name.lower().rstrip("."), port


def parse_ip(name: str) -> Address | None:
    """The IP address ``name`` spells, or None for a host name."""
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None


def _effective(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_range(address: Address) -> tuple[str, str] | None:
    """("refused" | "restricted", label) for a special address, None for a public one."""
    address = _effective(address)
    for network, kind, label in _SPECIAL:
        if address.version == network.version and address in network:
            return kind, label
    return None


def _safe(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= 100 else cleaned[:97] + "..."


def check_host(
    host: str,
    *,
    direct: bool,
    registry_host: str | None,
    allow_hosts: Collection[str] = (),
    untrusted: bool = False,
    resolve: Resolver = default_resolve,
) -> None:
    """Raise ``Blocked`` when connecting to ``host`` (``host[:port]``) is not allowed.

    direct:         the image reference itself names this host (not a redirect, realm or Link).
    registry_host:  the registry being queried (``host[:port]``); its own name counts as direct.
    allow_hosts:    ``--allow-host`` values; the host name must equal one exactly (no wildcards or
                    suffixes; a port in either is not compared).
    """
    name, _port = split_host(host)
    if name in {split_host(item)[0] for item in allow_hosts}:
        return
    shown, allow = _safe(host), f"(allow it with --allow-host {_safe(name)})"
    if name in _REFUSED_NAMES:
        raise Blocked(f"{shown} is a cloud metadata service; refused {allow}")
    literal = parse_ip(name)
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            found = resolve(name)
        except OSError:
            return  # not our business: the client diagnoses DNS failures
        addresses = [ip for ip in (parse_ip(text) for text in found) if ip is not None]
    own = registry_host is not None and split_host(registry_host)[0] == name
    for address in addresses:
        verdict = address_range(address)
        if verdict is None:
            continue
        kind, label = verdict
        where = shown if literal is not None else f"{shown} ({address})"
        if kind == _REFUSED:
            raise Blocked(f"{where} is a {label} address, which is always refused {allow}")
        if untrusted:
            raise Blocked(f"{where} is a {label} address, refused for untrusted input {allow}")
        if not (direct or own):
            raise Blocked(
                f"{where} is a {label} address reached indirectly (redirect, token realm or link), not the registry "
                f"itself; refused {allow}"
            )
