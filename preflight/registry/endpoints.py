"""Where requests for a registry domain go: mirrors, insecure registries, CAs (registry-protocol.md §2.1, §7).

``endpoints_for(domain, ...)`` returns the endpoints to try **in order**; the client moves to the next one
when an endpoint is unreachable (network or TLS failure), as Docker does with mirrors.

* ``docker.io``: mirrors (preflight's ``registries["docker.io"].mirrors``, then daemon.json
  ``registry-mirrors``), then ``https://registry-1.docker.io``; ``index.docker.io`` is the same.
  ``registry-1.docker.io`` references get the Hub endpoint and Hub credentials, without mirrors (moby
  treats that name as an ordinary host).
  A mirror is a different server: it gets the credentials stored for its own host, never Hub's.
* Other domains: ``https://<domain>`` (port kept), or ``registries[domain].endpoint`` when set, which
  may carry a path prefix (``https://host/artifactory/api/docker/<repo>``: requests go to
  ``<prefix>/v2/...``). An endpoint override replaces everything (mirrors too). It gets the credentials stored for **its own**
  host, never the domain's: ``registries`` can come from a ``.preflight.yaml`` in the checked
  repository, and a pull request must not be able to send the user's ``ghcr.io`` password elsewhere.
* Insecure hosts (Docker's insecure-registry semantics): loopback (``localhost``, 127.0.0.0/8, ::1) unless
  ``strict_loopback``; daemon.json ``insecure-registries`` (exact ``host[:port]``, or a CIDR matched against
  the resolved addresses); ``registries[host].insecure``. Docker tries such a host over HTTPS without
  verification, then over plain HTTP. **Choice:** for loopback preflight goes straight to ``http://``: that
  is what a local registry speaks and what Docker ends up using; a loopback registry that speaks TLS needs
  ``strict_loopback`` (and a CA) or an explicit ``https://`` endpoint override. Names that merely resolve to
  loopback are not implicitly insecure (no DNS lookup unless daemon.json lists CIDRs).
* CAs: ``registries[host].ca_file`` (host of the endpoint, then the domain's entry), else the directory
  ``/etc/docker/certs.d/<host[:port]>`` when it holds ``*.crt`` files (``ca_file`` is then that directory).
* Client certificates (mutual TLS), Docker's certs.d convention: ``<name>.cert`` with ``<name>.key`` in
  the same directory, for verified HTTPS endpoints only (as moby's ``newTLSConfig``). A ``.cert`` without
  its ``.key`` (or the reverse) is an error naming both, as in Docker. Python's ``ssl`` presents one
  chain per context: the first pair by name. The key's bytes are read by OpenSSL only, never logged;
  an encrypted key is refused (preflight never prompts for a passphrase).
* The certs.d directory is ``Settings.certs_dir`` (default ``/etc/docker/certs.d``; tests point it elsewhere).

No httpx is imported here. The ``SSLContext`` an endpoint's ``ca_file``, ``insecure`` and ``client_cert`` make
is ``tls.ssl_context_for``'s.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..config import Config, RegistryConfig
from ..imageref import DEFAULT_DOMAIN, DOCKER_HUB_DOMAINS, HUB_REGISTRY_HOST, LEGACY_DEFAULT_DOMAIN
from ..safetext import redact_url
from .guard import Resolver, default_resolve, parse_ip, split_host

if TYPE_CHECKING:
    import httpx

DEFAULT_DAEMON_JSON = Path("/etc/docker/daemon.json")
DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")
HUB_DOMAIN = DEFAULT_DOMAIN
HUB_HOST = HUB_REGISTRY_HOST
HUB_BASE_URL = f"https://{HUB_HOST}"
_MIRRORED = frozenset({DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN})  # Hub names that get mirrors (not registry-1)


@dataclass(frozen=True)
class Endpoint:
    """One base URL to send registry requests to."""

    base_url: str  # "https://registry-1.docker.io", "http://127.0.0.1:5000", "https://h/artifactory/api/docker/r" (no trailing slash)
    host: str  # host[:port] the requests go to (scope for Authorization headers)
    insecure: bool  # TLS verification off / plain HTTP allowed (Docker's insecure-registry semantics)
    ca_file: str | None  # extra CA bundle (a PEM file, or a certs.d directory of *.crt files)
    mirror: bool  # a docker.io mirror
    credential_domain: str  # whose stored credentials apply: "docker.io" for Hub, else the endpoint's own host
    client_cert: tuple[str, str] | None = None  # (certificate, key) from certs.d, for mutual TLS

    @property
    def scheme(self) -> str:
        return self.base_url.split("://", 1)[0]


@dataclass(frozen=True)
class DaemonConfig:
    """What preflight read from Docker's daemon.json (empty when absent)."""

    mirrors: tuple[str, ...] = ()  # validated base URLs, no trailing slash
    insecure: tuple[str, ...] = ()  # host[:port] or CIDR strings
    source: str | None = None  # the file read, for messages


# ------------------------------------------------------------------ URL checks
def parse_base_url(url: str, *, allow_path: bool = False) -> tuple[str | None, str | None]:
    """(``scheme://host[:port]``, None) for a valid registry base URL, else (None, reason).

    Valid: http or https, a host, no user information, query or fragment, and no path (moby
    ``ValidateMirror``) unless ``allow_path``: an endpoint override may sit below a path prefix
    (Artifactory's ``/artifactory/api/docker/<repo>``, a reverse proxy's ``/registry``), which the
    client keeps in front of ``/v2/``. Such a path must not end in ``/v2`` (preflight adds it).
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None, "not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None, "the scheme must be http or https"
    if "@" in parts.netloc:
        return None, "it must not contain credentials"
    if not parts.hostname:
        return None, "it has no host"
    if parts.query or parts.fragment:
        return None, "it must not have a query or fragment"
    path = parts.path.rstrip("/")
    if path and not allow_path:
        return None, "it must not have a path"
    segments = path.split("/")[1:]
    if any(segment in ("", ".", "..") for segment in segments):
        return None, "its path must not have empty, '.' or '..' segments"
    if segments and segments[-1].lower() == "v2":
        return None, "its path must not end in /v2 (preflight adds /v2/ itself)"
    return f"{scheme}://{parts.netloc.lower()}{path}", None


def _host_of(base: str) -> str:
    """``host[:port]`` of a base URL from ``parse_base_url`` (which may have a path)."""
    return base.split("://", 1)[1].split("/", 1)[0]


def _valid_insecure_entry(entry: str) -> str | None:
    """Why a daemon.json ``insecure-registries`` entry is unusable, or None."""
    if "://" in entry:
        return "it must be host[:port] or a CIDR, without a scheme"
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return "not a valid CIDR"
    return None


# ------------------------------------------------------------------ daemon.json
def load_daemon_json(path: Path | None) -> tuple[DaemonConfig, tuple[str, ...]]:
    """Read ``registry-mirrors`` and ``insecure-registries`` (default ``/etc/docker/daemon.json``).

    A missing file is fine; an unreadable or malformed one, or invalid entries, give warnings.
    """
    path = DEFAULT_DAEMON_JSON if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return DaemonConfig(), ()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
        return DaemonConfig(), (
            f"cannot read {path} ({reason}); its registry mirrors and insecure registries are not applied",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return DaemonConfig(), (f"{path} is not valid JSON (line {exc.lineno}); its registry settings are not applied",)
    if not isinstance(data, dict):
        return DaemonConfig(), (f"{path} is not a JSON object; its registry settings are not applied",)
    warnings: list[str] = []
    mirrors: list[str] = []
    for item in _string_list(data, "registry-mirrors", path, warnings):
        base, invalid = parse_base_url(item)
        if base is None:
            warnings.append(f"ignoring registry mirror {redact_url(item)!r} in {path}: {invalid}")
        elif base not in mirrors:
            mirrors.append(base)
    insecure: list[str] = []
    for item in _string_list(data, "insecure-registries", path, warnings):
        invalid = _valid_insecure_entry(item)
        if invalid is not None:
            warnings.append(f"ignoring insecure registry {redact_url(item)!r} in {path}: {invalid}")
        else:
            insecure.append(item.strip().lower())
    return DaemonConfig(tuple(mirrors), tuple(insecure), str(path)), tuple(warnings)


def _string_list(data: Mapping[str, object], key: str, path: Path, warnings: list[str]) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        warnings.append(f"{key} in {path} is not a list of strings; ignored")
        return []
    return list(value)


# ------------------------------------------------------------------ insecure
def _registry(config: Config, *keys: str) -> RegistryConfig | None:
    """The first ``registries`` entry whose key equals one of ``keys`` (case-insensitive)."""
    by_key = {key.strip().lower(): value for key, value in config.registries.items()}
    for key in keys:
        found = by_key.get(key.lower())
        if found is not None:
            return found
    return None


def is_loopback(name: str) -> bool:
    """``localhost`` or a loopback IP literal (no DNS)."""
    if name == "localhost":
        return True
    address = parse_ip(name)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def may_carry_credentials(url: httpx.URL) -> bool:
    """Credentials travel over HTTPS, or over plain HTTP to this machine (loopback) only: the rule
    for the registry client and ``preflight doctor`` alike."""
    return url.scheme == "https" or is_loopback(url.host)


def _same_host(a: str, b: str) -> bool:
    return split_host(a) == split_host(b)


def is_insecure(
    host: str,
    config: Config,
    daemon: DaemonConfig,
    *,
    strict_loopback: bool,
    resolve: Resolver = default_resolve,
) -> bool:
    """Does Docker treat ``host`` (``host[:port]``) as an insecure registry? (module docstring)"""
    name, _port = split_host(host)
    if not strict_loopback and is_loopback(name):
        return True
    entry = _registry(config, host)
    if entry is not None and entry.insecure:
        return True
    networks = []
    for item in daemon.insecure:
        if "/" in item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue
        elif _same_host(item, host):
            return True
    if not networks:
        return False
    literal = parse_ip(name)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ip for ip in (parse_ip(text) for text in resolve(name)) if ip is not None]
        except OSError:
            return False
    return any(address.version == net.version and address in net for address in addresses for net in networks)


# ------------------------------------------------------------------ endpoints
def _certs_d(host: str, certs_dir: Path | None) -> tuple[str | None, tuple[str, str] | None]:
    """(the directory when it holds ``*.crt`` CAs, the first client pair) of ``certs_dir/<host>``."""
    if certs_dir is None:
        return None, None
    directory = certs_dir / host
    try:
        names = sorted(item.name for item in directory.iterdir())
    except OSError:
        return None, None
    ca = str(directory) if any(name.endswith(".crt") for name in names) else None
    for name in names:
        if name.endswith(".cert"):
            return ca, (str(directory / name), str(directory / (name[: -len(".cert")] + ".key")))
        if name.endswith(".key"):
            return ca, (str(directory / (name[: -len(".key")] + ".cert")), str(directory / name))
    return ca, None


def endpoints_for(
    domain: str,
    config: Config,
    daemon: DaemonConfig,
    *,
    strict_loopback: bool = False,
    resolve: Resolver = default_resolve,
    certs_dir: Path | None = DEFAULT_CERTS_DIR,
) -> list[Endpoint]:
    """The endpoints to try, in order, for an ``ImageRef.domain`` (module docstring).

    ``certs_dir=None`` skips the ``/etc/docker/certs.d`` lookup; ``resolve`` is only used to match
    daemon.json CIDRs.
    """
    hub = domain.lower() in DOCKER_HUB_DOMAINS
    credential_domain = HUB_DOMAIN if hub else domain
    keys = (domain, HUB_DOMAIN) if hub else (domain,)
    entry = _registry(config, *keys)

    def insecure(host: str) -> bool:
        return is_insecure(host, config, daemon, strict_loopback=strict_loopback, resolve=resolve)

    def make(base: str, *, mirror: bool, cred: str, unverified: bool | None = None) -> Endpoint:
        scheme, host = base.split("://", 1)[0], _host_of(base)
        if unverified is None:
            unverified = scheme == "http" or insecure(host)
        entries = (_registry(config, host),) if mirror else (_registry(config, host), entry)
        if scheme != "https":
            return Endpoint(base, host, unverified, None, mirror, cred)
        certs_ca, client = _certs_d(host, certs_dir)
        ca = next((e.ca_file for e in entries if e is not None and e.ca_file), None) or certs_ca
        return Endpoint(base, host, unverified, ca, mirror, cred, None if unverified else client)

    def direct(host: str) -> list[Endpoint]:
        """A host with no explicit scheme: https, or Docker's insecure fallback."""
        if not insecure(host):
            return [make(f"https://{host}", mirror=False, cred=credential_domain, unverified=False)]
        if not strict_loopback and is_loopback(split_host(host)[0]):
            return [make(f"http://{host}", mirror=False, cred=credential_domain, unverified=True)]
        return [
            make(f"https://{host}", mirror=False, cred=credential_domain, unverified=True),
            make(f"http://{host}", mirror=False, cred=credential_domain, unverified=True),
        ]

    if entry is not None and entry.endpoint:
        base, _reason = parse_base_url(entry.endpoint, allow_path=True)
        if base is not None:
            return [make(base, mirror=False, cred=_host_of(base))]
    if not hub:
        return direct(domain.lower())
    endpoints: list[Endpoint] = []
    if domain.lower() in _MIRRORED:
        seen: set[str] = set()
        for raw in (*(entry.mirrors if entry is not None else ()), *daemon.mirrors):
            base, _reason = parse_base_url(raw)
            if base is None or base in seen:
                continue
            seen.add(base)
            endpoints.append(make(base, mirror=True, cred=_host_of(base)))
    endpoints.append(make(HUB_BASE_URL, mirror=False, cred=HUB_DOMAIN))
    return endpoints


def config_warnings(config: Config) -> tuple[str, ...]:
    """Problems in ``config.registries`` that ``endpoints_for`` silently skips."""
    where = config.source or "the preflight configuration"
    warnings: list[str] = []
    for key, entry in config.registries.items():
        for mirror in entry.mirrors:
            _base, reason = parse_base_url(mirror)
            if reason is not None:
                warnings.append(f"ignoring mirror {redact_url(mirror)!r} of registry {key!r} in {where}: {reason}")
        if entry.mirrors and key.lower() not in _MIRRORED:
            warnings.append(
                f"mirrors of registry {key!r} in {where} are ignored: like Docker, preflight mirrors only docker.io"
            )
        if entry.endpoint:
            _base, reason = parse_base_url(entry.endpoint, allow_path=True)
            if reason is not None:
                warnings.append(
                    f"ignoring endpoint {redact_url(entry.endpoint)!r} of registry {key!r} in {where}: {reason}"
                )
            elif entry.mirrors:
                warnings.append(f"mirrors of registry {key!r} in {where} are ignored because an endpoint is set")
        if entry.ca_file and not Path(entry.ca_file).is_file():
            warnings.append(f"CA file {entry.ca_file} of registry {key!r} in {where} does not exist")
    return tuple(warnings)
