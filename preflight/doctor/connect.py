"""``preflight doctor`` for one registry endpoint, up to the connection: the host policy, the proxy, DNS,
TCP and TLS (the certificate's subject, issuer and expiry, against the store a pull would use); then the
HTTP steps (``api``). The first failure names the cause and the next thing to try and ends the endpoint."""

from __future__ import annotations

import concurrent.futures
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..imageref import ImageRef
from ..registry import endpoints as ep
from ..registry.credentials import Credential
from ..registry.guard import Blocked, check_host
from ..registry.network import proxy_for
from ..registry.tls import CAError, ssl_context_for
from ..safetext import redact_url
from .api import http_steps
from .steps import Section, Stop, Timer


def diagnose_endpoint(
    endpoint: ep.Endpoint,
    ref: ImageRef,
    credential: Credential | None,
    environ: Mapping[str, str],
    timeout: float,
    resolve: Callable[[str, int], list[str]] | None = None,
) -> Section:
    kind = "mirror" if endpoint.mirror else "registry"
    section = Section(f"{kind} {endpoint.base_url} (for {ref.familiar})")
    try:
        _steps(section, endpoint, ref, credential, environ, timeout, resolve or _resolve)
    except Stop:
        pass
    return section


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _steps(
    section: Section,
    endpoint: ep.Endpoint,
    ref: ImageRef,
    credential: Credential | None,
    environ: Mapping[str, str],
    timeout: float,
    resolve: Callable[[str, int], list[str]],
) -> None:
    url = httpx.URL(endpoint.base_url)
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    proxy = proxy_for(url, environ)

    step = Timer(section, "policy")
    try:
        check_host(endpoint.host, direct=True, registry_host=None)
    except Blocked as exc:
        raise step.fail(str(exc), "blocked", "use a registry on a routable address, or --allow-host") from None

    connect_host, connect_port = host, port
    if proxy is not None:
        purl = httpx.URL(proxy)
        connect_host, connect_port = purl.host, purl.port or (443 if purl.scheme == "https" else 80)
        Timer(section, "proxy").ok(f"requests go through {redact_url(proxy)} (from the environment)")

    step = Timer(section, "DNS")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        addresses = pool.submit(resolve, connect_host, connect_port).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise step.fail(
            f"no answer for {connect_host} within {timeout:g} s", "DNS", "check the resolver (/etc/resolv.conf), VPN"
        ) from None
    except OSError as exc:
        raise step.fail(
            f"cannot resolve {connect_host} ({exc.strerror or exc})",
            "DNS" if proxy is None else "proxy",
            "check the registry name for typos, the DNS resolver and the VPN",
        ) from None
    finally:
        pool.shutdown(wait=False)
    step.ok(f"{connect_host} -> {', '.join(addresses[:4])}")

    step = Timer(section, "TCP")
    try:
        sock = socket.create_connection((addresses[0], connect_port), timeout=timeout)
    except TimeoutError:
        raise step.fail(
            f"no answer from {addresses[0]}:{connect_port} within {timeout:g} s",
            "firewall" if proxy is None else "proxy",
            "a firewall may drop the packets, or this network needs a proxy (HTTPS_PROXY)",
        ) from None
    except OSError as exc:
        raise step.fail(
            f"connection to {addresses[0]}:{connect_port} failed ({exc.strerror or exc})",
            "firewall/refused" if proxy is None else "proxy",
            "check that the registry (or proxy) runs and listens on that port, and the firewall rules",
        ) from None
    step.ok(f"connected to {addresses[0]}:{connect_port}")

    try:
        context = ssl_context_for(endpoint) if url.scheme == "https" else None
    except CAError as exc:
        sock.close()
        raise Timer(section, "TLS").fail(
            str(exc), "TLS", f"fix the ca-file setting, or the files in /etc/docker/certs.d/{endpoint.host}/"
        ) from None
    if context is not None and proxy is None:
        _tls_step(section, sock, context, host, endpoint)
    else:
        sock.close()

    verify: ssl.SSLContext | bool = context if context is not None else False
    with httpx.Client(verify=verify, proxy=proxy, trust_env=False, timeout=timeout, follow_redirects=False) as client:
        http_steps(section, client, endpoint, ref, credential)


def _tls_step(section: Section, sock: socket.socket, context: ssl.SSLContext, host: str, endpoint: ep.Endpoint) -> None:
    step = Timer(section, "TLS")
    store = f"ca-file {endpoint.ca_file} + system store" if endpoint.ca_file else "system trust store"
    if endpoint.insecure:
        store = "not verified (insecure registry)"
    elif endpoint.client_cert is not None:
        store += f", client certificate {endpoint.client_cert[0]}"
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            version = tls.version() or "TLS"
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        raise step.fail(
            f"certificate not trusted: {exc.verify_message or exc.reason} ({store})",
            "TLS",
            f"give preflight and docker the registry's CA: registries.{endpoint.host}.ca-file, or "
            f"/etc/docker/certs.d/{endpoint.host}/ca.crt",
        ) from None
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise step.fail(
            f"TLS handshake failed ({reason})", "TLS", "is it a plain-HTTP registry? then it is an insecure registry"
        ) from None
    subject = _name(cert.get("subject"))
    issuer = _name(cert.get("issuer"))
    expires = cert.get("notAfter")
    days = ""
    if isinstance(expires, str):
        days = f", expires in {int((ssl.cert_time_to_seconds(expires) - time.time()) // 86400)} days"
    verified = "not verified" if endpoint.insecure else "verified"
    step.ok(f"{version}, subject {subject or '?'}, issuer {issuer or '?'}{days}; {verified} ({store})")


def _name(value: Any) -> str:
    if not isinstance(value, tuple):
        return ""
    for rdn in value:
        for key, val in rdn:
            if key == "commonName":
                return str(val)[:100]
    return ""
