"""What a registry request's failure means, and where a request goes: pure helpers, no connection state.

``diagnose`` names what failed for a URL (DNS, refused, timeout, TLS, a missing client certificate,
proxy) from the whole exception chain (``exception_chain``: causes, contexts, group members) and says
what to check, as a ``Diagnosis`` (a ``facts.Status`` and a safe sentence) that the transport raises
in ``Unreachable``; ``retryable_exception`` says which failures are worth another try.

Because the transport passes its own ``transport=`` to httpx (which turns off httpx's environment
proxies), the proxy for each URL is chosen here (``proxy_for``) from the run's environment, which
also lets ``NO_PROXY`` CIDRs work (httpx ignores them) and lets the diagnosis say a failure happened
at a proxy (its user info never shown: ``redact_proxy``).

And the small parsers every layer uses: ``netloc``, ``safe_url`` (a URL for logs: no query values,
no user info), ``parse_retry_after``, ``parse_ratelimit``, ``is_docker_hub``.
"""

from __future__ import annotations

import email.utils
import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx

from ..facts import Status
from ..imageref import DOCKER_HUB_DOMAINS
from ..safetext import visible

HUB_HOSTS = DOCKER_HUB_DOMAINS | {"auth.docker.io"}  # Hub's registry names and its token service (rate limits)


@dataclass(frozen=True)
class Diagnosis:
    """Why a host could not be used: a status from ``facts.Status`` and a safe sentence."""

    status: Status
    host: str
    message: str


class Unreachable(Exception):
    """Raised by the transport when a host failed (now or earlier in the run) or is blocked."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.message)
        self.diagnosis = diagnosis


class DeadlineExceeded(Exception):
    """The run's overall deadline passed before the request could be sent."""


# ----------------------------------------------------------------- small parsers


def netloc(url: httpx.URL) -> str:
    """``host[:port]`` as written in references and messages (default ports omitted)."""
    return url.netloc.decode("ascii", "replace")


def safe_url(url: httpx.URL) -> str:
    """``scheme://host[:port]/path?key&key`` for logs: query values (``last=``, scopes, anything a
    server put in a ``Link`` or realm) and user information dropped."""
    keys = "&".join(dict.fromkeys(key for key, _ in url.params.multi_items()))
    return visible(f"{url.scheme}://{netloc(url)}{url.path}" + (f"?{keys}" if keys else ""))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_ratelimit(value: str | None) -> int | None:
    """``ratelimit-remaining: 20;w=21600`` → 20."""
    if not value:
        return None
    head = value.split(";", 1)[0].split(",", 1)[0].strip()
    return int(head) if head.isdigit() else None


def is_docker_hub(host: str, response: httpx.Response | None = None) -> bool:
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if bare in HUB_HOSTS:
        return True
    return response is not None and "docker-ratelimit-source" in response.headers


# ----------------------------------------------------------------- proxies


def _env(environ: Mapping[str, str], name: str) -> str | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key)
        if value:
            return value.strip()
    return None


def proxy_for(url: httpx.URL, environ: Mapping[str, str]) -> str | None:
    """The proxy URL the environment selects for ``url``, honouring ``NO_PROXY`` (incl. CIDRs)."""
    proxy = _env(environ, f"{url.scheme}_proxy") or _env(environ, "all_proxy")
    if not proxy:
        return None
    if bypasses_proxy(url.host, url.port, _env(environ, "no_proxy") or ""):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return proxy


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    host = host.strip("[]").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry and address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and (not entry_port.isdigit() or int(entry_port) != port):
            continue
        name = name.strip("[]")
        if address is not None:
            if name == host:
                return True
            continue
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def redact_proxy(proxy: str) -> str:
    """A proxy URL for messages: scheme and ``host[:port]``, never its user info."""
    url = httpx.URL(proxy)
    return f"{url.scheme}://{netloc(url)}"


# ----------------------------------------------------------------- diagnosis


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything behind it: causes, contexts, exception args, group members."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        for nxt in (item.__cause__, item.__context__):
            if nxt is not None:
                stack.append(nxt)
        stack.extend(a for a in item.args if isinstance(a, BaseException))


def diagnose(exc: BaseException, url: httpx.URL, proxy: str | None) -> Diagnosis:
    """Name what failed for ``url`` (DNS, refused, timeout, TLS, proxy) and what to check."""
    host = netloc(url)
    chain = list(exception_chain(exc))
    via = f" through proxy {redact_proxy(proxy)}" if proxy else ""
    check_proxy = "check HTTPS_PROXY/HTTP_PROXY and NO_PROXY"
    mtls = (
        "if it requires a client certificate (mutual TLS), Docker and preflight read <name>.cert and "
        f"<name>.key from /etc/docker/certs.d/{host}/"
    )

    if isinstance(exc, httpx.ProxyError):
        return Diagnosis(
            Status.PROXY,
            host,
            f"proxy {redact_proxy(proxy or '')} refused or failed the connection "
            f"to {host} ({short_error(exc)}); {check_proxy}",
        )
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        reason = getattr(verify, "verify_message", None) or short_error(verify)
        return Diagnosis(
            Status.TLS,
            host,
            f"TLS certificate of {host} is not trusted ({reason}); "
            "set ca_file for this registry in the preflight configuration, or SSL_CERT_FILE",
        )
    tls = _tls_error(chain)
    if tls is not None:
        if "WRONG_VERSION_NUMBER" in str(tls) or getattr(tls, "reason", "") == "WRONG_VERSION_NUMBER":
            return Diagnosis(
                Status.TLS,
                host,
                f"{host} answers plain HTTP on an HTTPS request; if it is an "
                "insecure registry, mark it insecure in the preflight configuration",
            )
        alert = getattr(tls, "reason", None) or ""
        if alert in _CLIENT_CERT_ALERTS:
            return Diagnosis(Status.TLS, host, f"{host} refused the TLS connection ({alert.lower()}); {mtls}")
        return Diagnosis(Status.TLS, host, f"TLS handshake with {host} failed ({short_error(tls)})")
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
        if proxy and isinstance(exc, httpx.ConnectTimeout):
            return Diagnosis(
                Status.PROXY, host, f"connecting to proxy {redact_proxy(proxy)} for {host} timed out; {check_proxy}"
            )
        return Diagnosis(
            Status.NETWORK_TIMEOUT,
            host,
            f"{host} did not answer in time ({phase} timeout{via}); "
            "check the network, a firewall or the registry's health",
        )
    if proxy and isinstance(exc, httpx.ConnectError):
        return Diagnosis(
            Status.PROXY,
            host,
            f"cannot connect to proxy {redact_proxy(proxy)} for {host} ({short_error(exc)}); {check_proxy}",
        )
    gai = next((e for e in chain if isinstance(e, socket.gaierror)), None)
    if gai is not None:
        what = "temporary DNS failure" if gai.errno == socket.EAI_AGAIN else "name not found"
        return Diagnosis(
            Status.NETWORK_DNS,
            host,
            f"cannot resolve {url.host} ({what}); check the registry name and your DNS or network",
        )
    errnos = {getattr(e, "errno", None) for e in chain if isinstance(e, OSError)}
    if (
        any(isinstance(e, ConnectionRefusedError) for e in chain)
        or errno.ECONNREFUSED in errnos
        or (isinstance(exc, httpx.ConnectError) and "All connection attempts failed" in str(exc))
    ):
        return Diagnosis(
            Status.NETWORK_REFUSED,
            host,
            f"connection to {host} refused: check that the registry is running and the port is right",
        )
    if errno.ENETUNREACH in errnos or errno.EHOSTUNREACH in errnos:
        return Diagnosis(
            Status.NETWORK_REFUSED, host, f"no route to {host} (network unreachable); check the network or VPN"
        )
    closed = (ConnectionResetError, BrokenPipeError)
    if url.scheme == "https" and any(isinstance(e, closed) for e in chain) and _inside_tls(chain):
        # TLS 1.3: the server checks the client certificate after the client's handshake has finished, and
        # its alert is often lost to the reset that follows it
        return Diagnosis(Status.TLS, host, f"{host} closed the TLS connection without an HTTP answer{via}; {mtls}")
    if any(isinstance(e, ConnectionResetError) for e in chain) or isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        hint = "; the server may expect HTTPS" if url.scheme == "http" else ""
        status = Status.TLS if hint else Status.NETWORK_REFUSED
        return Diagnosis(status, host, f"connection to {host} was reset{via}{hint}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return Diagnosis(Status.REGISTRY_ERROR, host, f"{host} closed the connection without a valid HTTP answer")
    return Diagnosis(Status.NETWORK_REFUSED, host, f"connection to {host} failed ({type(exc).__name__}{via})")


# OpenSSL's names for the alerts a server sends when the client certificate is missing or not accepted
_CLIENT_CERT_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    }
)


def _tls_error(chain: list[BaseException]) -> ssl.SSLError | None:
    """The TLS failure in an exception chain; anyio's ``SSLWant*`` retry signals (chained as context
    to any error inside a TLS stream) are not failures."""
    waits = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
    return next((e for e in chain if isinstance(e, ssl.SSLError) and not isinstance(e, waits)), None)


class InsideTLS(Exception):
    """Marks a connection failure that happened inside a TLS stream (during or after its handshake):
    ``aiostream`` makes it the failure's ``__cause__``."""


def _inside_tls(chain: list[BaseException]) -> bool:
    """The failure happened inside a TLS stream: ``aiostream`` marks it (anyio chained ``SSLWant*``)."""
    return any(isinstance(e, (InsideTLS, ssl.SSLWantReadError, ssl.SSLWantWriteError)) for e in chain)


def short_error(exc: BaseException) -> str:
    """An exception's text on one line, at most 150 characters (its type's name when it has none)."""
    text = " ".join(str(exc).split())
    return (text[:150] + "...") if len(text) > 150 else (text or type(exc).__name__)


def retryable_exception(exc: httpx.TransportError) -> bool:
    """Transient failures worth another try: timeouts, resets, dropped connections, DNS EAI_AGAIN."""
    chain = list(exception_chain(exc))
    if _tls_error(chain) is not None:
        return False  # a TLS failure (an untrusted certificate, a refused client certificate) repeats
    if isinstance(exc, (httpx.TimeoutException, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return True
    if any(isinstance(e, socket.gaierror) and e.errno == socket.EAI_AGAIN for e in chain):
        return True
    return any(isinstance(e, ConnectionResetError) for e in chain)
