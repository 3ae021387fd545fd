"""``preflight doctor``: the diagnosis a platform engineer does by hand when a pull fails, step by step.

For every registry endpoint the images use (mirrors first, as pulls try them): DNS -> TCP connect ->
TLS -> ``GET /v2/`` -> token -> one manifest ``HEAD``; then the local engine. Each step is timed and
passes or fails; the first failure of an endpoint names the cause (DNS, firewall/refused, proxy, TLS,
registry outage, rate limit, authentication, not found) and the next thing to try, and the endpoint's
later steps are not run. Nothing printed ever holds a credential or a token.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .config import Config
from .imageref import ImageRef
from .localengine import Survey
from .registry import endpoints as ep
from .registry.auth import basic_authorization, choose, parse_challenges
from .registry.credentials import Credential, CredentialStore
from .registry.guard import Blocked, check_host
from .registry.manifest import MANIFEST_ACCEPT
from .registry.transport import proxy_for
from .safetext import redact_url

MAX_BODY = 64 * 1024


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str
    cause: str = ""  # on failure: DNS, firewall/refused, proxy, TLS, registry outage, rate limit, authentication, ...
    next: str = ""  # what to try


@dataclass
class Section:
    title: str  # "registry 127.0.0.1:5000 (for 127.0.0.1:5000/app:1.0)", "engine"
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


class _Stop(Exception):
    """A step failed: the endpoint's later steps depend on it."""


class _Timer:
    def __init__(self, section: Section, name: str) -> None:
        self.section, self.name, self.started = section, name, time.monotonic()

    def ok(self, detail: str) -> None:
        self.section.steps.append(Step(self.name, True, time.monotonic() - self.started, detail))

    def fail(self, detail: str, cause: str, next_step: str) -> _Stop:
        self.section.steps.append(Step(self.name, False, time.monotonic() - self.started, detail, cause, next_step))
        return _Stop()


# ----------------------------------------------------------------- registries


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
    except _Stop:
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

    step = _Timer(section, "policy")
    try:
        check_host(endpoint.host, direct=True, registry_host=None)
    except Blocked as exc:
        raise step.fail(str(exc), "blocked", "use a registry on a routable address, or --allow-host") from None

    connect_host, connect_port = host, port
    if proxy is not None:
        purl = httpx.URL(proxy)
        connect_host, connect_port = purl.host, purl.port or (443 if purl.scheme == "https" else 80)
        _Timer(section, "proxy").ok(f"requests go through {redact_url(proxy)} (from the environment)")

    step = _Timer(section, "DNS")
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

    step = _Timer(section, "TCP")
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
        context = ep.ssl_context_for(endpoint) if url.scheme == "https" else None
    except ep.CAError as exc:
        sock.close()
        raise _Timer(section, "TLS").fail(
            str(exc), "TLS", f"fix the ca-file setting, or the files in /etc/docker/certs.d/{endpoint.host}/"
        ) from None
    if context is not None and proxy is None:
        _tls_step(section, sock, context, host, endpoint)
    else:
        sock.close()

    verify: ssl.SSLContext | bool = context if context is not None else False
    with httpx.Client(verify=verify, proxy=proxy, trust_env=False, timeout=timeout, follow_redirects=False) as client:
        _http_steps(section, client, endpoint, ref, credential)


def _tls_step(section: Section, sock: socket.socket, context: ssl.SSLContext, host: str, endpoint: ep.Endpoint) -> None:
    step = _Timer(section, "TLS")
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


def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            break
    return bytes(body[:MAX_BODY])


def _realm_url(step: _Timer, realm: str, registry_host: str) -> httpx.URL:
    """The token service a registry names, if preflight may connect to it (the registry client's
    guard: never a cloud metadata or link-local address)."""
    try:
        url = httpx.URL(realm)
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise step.fail("the registry named a token service that is not an http(s) URL", "authentication", "-")
    try:
        check_host(url.netloc.decode("ascii", "replace"), direct=False, registry_host=registry_host)
    except Blocked as exc:
        raise step.fail(str(exc), "blocked", "the registry's token service is refused; use another registry") from None
    return url


def _status_failure(step: _Timer, what: str, status: int, host: str) -> _Stop:
    if status == 429:
        return step.fail(
            f"{what}: HTTP 429 Too Many Requests", "rate limit", "authenticate (docker login) or use a mirror"
        )
    if status >= 500:
        return step.fail(f"{what}: HTTP {status}", "registry outage", "retry later; check the registry's status page")
    if status in (401, 403):
        return step.fail(
            f"{what}: HTTP {status}", "authentication", f"docker login {host}, or check the account's pull rights"
        )
    if status == 404:
        return step.fail(f"{what}: HTTP 404", "not found", "check the image name and tag (preflight check suggests)")
    return step.fail(f"{what}: HTTP {status}", "unexpected answer", "is this a registry (Distribution API v2)?")


def _no_answer(step: _Timer, exc: httpx.HTTPError, client: httpx.Client, then: str) -> _Stop:
    """A request that got no HTTP answer: a hung registry (connected, silent until ``--timeout``)
    is an outage; anything else is named by its type."""
    if isinstance(exc, httpx.TimeoutException):
        limit = client.timeout.read or 0
        return step.fail(
            f"connected, but no HTTP answer within {limit:g} s",
            "registry outage",
            "the registry (or something in front of it) accepts connections and does not answer: retry "
            "later; on a slow link, raise --timeout",
        )
    return step.fail(f"no HTTP answer ({type(exc).__name__})", "network", then)


def _http_steps(
    section: Section, client: httpx.Client, endpoint: ep.Endpoint, ref: ImageRef, credential: Credential | None
) -> None:
    base = endpoint.base_url
    step = _Timer(section, "GET /v2/")
    try:
        with client.stream("GET", f"{base}/v2/") as response:
            _read(response)
    except httpx.HTTPError as exc:
        raise _no_answer(step, exc, client, "see the steps above") from None
    api = response.headers.get("docker-distribution-api-version", "none")
    challenges = parse_challenges(response.headers.get_list("www-authenticate"))
    challenge = choose(challenges)
    if response.status_code not in (200, 401):
        raise _status_failure(step, "GET /v2/", response.status_code, endpoint.host)
    asked = f"; asks for {challenge.scheme} authentication" if challenge else ""
    step.ok(f"HTTP {response.status_code}, API version {api}{asked}")

    path = ref.path
    source = f"credentials from {credential.source}" if credential else "anonymous"
    headers: dict[str, str] = {}
    if challenge is not None and challenge.scheme == "bearer":
        step = _Timer(section, "token")
        params = {"service": challenge.params.get("service", ""), "scope": f"repository:{path}:pull"}
        realm = _realm_url(step, challenge.realm, endpoint.host)
        auth = (credential.username, credential.secret) if credential and credential.kind == "basic" else None
        if auth is not None and not ep.may_carry_credentials(realm):
            raise step.fail(
                f"the token service {realm.scheme}://{realm.netloc.decode('ascii', 'replace')} is plain HTTP and not "
                "this machine: the password is not sent",
                "authentication",
                "the registry should name an https:// token service",
            )
        try:
            with client.stream("GET", realm, params=params, auth=auth) as answer:
                body = _read(answer)
        except (httpx.HTTPError, ValueError) as exc:
            raise step.fail(
                f"token service {challenge.realm[:100]} did not answer ({type(exc).__name__})",
                "authentication",
                "check that the token service is reachable (it may be another host)",
            ) from None
        if answer.status_code != 200:
            raise _status_failure(step, f"token service ({source})", answer.status_code, endpoint.host)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise step.fail("the token service answered without a token", "authentication", "check the token service")
        headers["Authorization"] = f"Bearer {token}"
        step.ok(f"realm {httpx.URL(challenge.realm).host}, service {params['service'] or '-'}, {source}")
    elif challenge is not None and credential is not None and credential.kind == "basic":
        _Timer(section, "credentials").ok(f"basic authentication with {source}")
    elif challenge is not None:
        _Timer(section, "credentials").ok("basic authentication asked; none configured (anonymous)")
    step = _Timer(section, "manifest HEAD")
    reference = ref.digest or ref.effective_tag or "latest"
    if (
        challenge is not None
        and challenge.scheme == "basic"
        and credential is not None
        and credential.kind == "basic"
        and ep.may_carry_credentials(httpx.URL(base))
    ):
        headers["Authorization"] = basic_authorization(credential.username, credential.secret)
    try:
        answer = client.head(f"{base}/v2/{path}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT, **headers})
    except httpx.HTTPError as exc:
        raise _no_answer(step, exc, client, "retry; see the steps above") from None
    if answer.status_code != 200:
        raise _status_failure(step, f"{path}:{reference} ({source})", answer.status_code, endpoint.host)
    digest = answer.headers.get("docker-content-digest", "no digest header")
    step.ok(f"{path}:{reference}: HTTP 200, {digest}, {answer.headers.get('content-type', '?')}")


# ----------------------------------------------------------------- engine


def diagnose_engine(found: Survey, refs: Sequence[str], environ: Mapping[str, str], seconds: float) -> Section:
    """The engine's steps, from one survey (``seconds``: how long it took)."""
    section = Section("engine")
    facts = found.facts
    for warning in found.warnings:
        section.steps.append(Step("engine", True, seconds, f"not asked: {warning}"))
    if facts is None:
        if not found.warnings:
            detail = "no engine configured or found (DOCKER_HOST, context, socket)"
            section.steps.append(Step("engine", True, seconds, detail))
        return section
    where = f"{facts.endpoint} ({facts.source})"
    if not facts.answered:
        next_step = "start the engine, or fix DOCKER_HOST / the docker context"
        section.steps.append(Step("engine", False, seconds, f"{where}: {facts.detail}", "engine", next_step))
        return section
    version = f"{facts.version or 'version unknown'}, API {facts.api_version}"
    section.steps.append(Step("engine", True, seconds, f"{where}: {version}"))
    info = found.info
    if info is not None:
        free = _free_space(facts.endpoint, info.root_dir)
        _Timer(section, "storage").ok(f"driver {info.driver or '?'}, data root {info.root_dir or '?'}; {free}")
        mirrors = ", ".join(info.mirrors) or "no mirrors"
        insecure = ", ".join(info.insecure) or "none"
        _Timer(section, "registry settings").ok(f"{mirrors}; insecure registries: {insecure}")
        own = redact_url(environ.get("HTTPS_PROXY") or environ.get("https_proxy") or "")
        theirs = info.https_proxy
        if own != theirs:
            detail = (
                f"the engine pulls through {theirs or 'no proxy'}, this shell uses {own or 'no proxy'}: "
                "what preflight reaches is not what docker pull reaches"
            )
        else:
            detail = f"same HTTPS proxy as this shell ({own or 'none'})"
        _Timer(section, "proxy").ok(detail)
    for ref in refs:
        image = facts.holds(ref)
        held = f"holds {ref} ({image.platform})" if image else f"does not hold {ref}: a build pulls it"
        _Timer(section, "local image").ok(held)
    return section


def _free_space(endpoint: str, root: str | None) -> str:
    from .localengine import free_space

    free, total, why = free_space(endpoint, root)
    if free is None or total is None:
        return f"free space unknown: {why}" if why else "free space unknown"
    return f"{free / (1 << 30):.1f} GiB free of {total / (1 << 30):.1f} GiB"


# ----------------------------------------------------------------- the command


def run(
    refs: Sequence[ImageRef],
    config: Config,
    environ: Mapping[str, str],
    timeout: float,
    *,
    use_credentials: bool = True,
) -> list[Section]:
    from .localengine import registry_settings, survey

    started = time.monotonic()
    found = survey([r.canonical for r in refs], environ, config.engine, timeout)
    seconds = time.monotonic() - started
    daemon = registry_settings(found)
    if daemon is None:
        daemon, _ = ep.load_daemon_json(Path(config.daemon_json) if config.daemon_json else None)
    store = CredentialStore(environ, enabled=use_credentials)
    sections: list[Section] = []
    first: dict[str, ImageRef] = {}
    for ref in refs:
        first.setdefault(ref.domain, ref)
    for domain, ref in first.items():
        for endpoint in ep.endpoints_for(domain, config, daemon):
            sections.append(
                diagnose_endpoint(endpoint, ref, store.lookup(endpoint.credential_domain), environ, timeout)
            )
    sections.append(diagnose_engine(found, [r.canonical for r in refs], environ, seconds))
    return sections


__all__ = ["Section", "Step", "diagnose_endpoint", "run"]
