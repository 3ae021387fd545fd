"""The one HTTP transport of a run: routing, address guard, limits, retries and failure diagnosis.

``RegistryTransport`` wraps httpx's own transports, one per (TLS context, proxy) pair, so a
single ``httpx.AsyncClient`` serves every registry even though httpx takes ``verify`` per
transport. Because passing ``transport=`` turns off httpx's environment proxies, the proxy for
each URL is chosen here from the run's environment, which also lets ``NO_PROXY`` CIDRs work
(httpx ignores them) and tells the diagnosis whether a failure happened at a proxy.

Every request (registry, token realm, redirect hop, ``Link`` page) passes through
``handle_async_request``: address guard, per-host and overall concurrency, a per-attempt
timeout clipped to the run's deadline (a timeout cut short by the deadline is "not checked",
never a verdict on the host), bounded retries with backoff and jitter for
connection failures and 408/429/5xx (``Retry-After`` honoured up to 60 s, never past the
deadline; Docker Hub's 429 is not retried), and "fail fast" once a host is known dead.

Connections go to the addresses the address guard approved (``PinnedBackend``: one DNS answer
per name per run, the host name kept for SNI, the certificate check and ``Host``), and speak
HTTP/2 where a TLS registry offers it (ALPN), so many lookups share one connection.

Each attempt is logged at DEBUG on the ``preflight.registry`` logger (``--debug``): method, URL
without query values or user info (``safe_url``), status or error, elapsed ms, the registry it
serves; retries and refusals too. Never a header, token, credential or body.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import functools
import importlib.util
import ipaddress
import logging
import random
import select
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import httpcore
import httpx
from httpcore import SOCKET_OPTION

from ..facts import Status
from ..imageref import DOCKER_HUB_DOMAINS
from ..safetext import visible
from .body import ACCEPT_ENCODING, bounded
from .guard import ResolveOnce, parse_ip, split_host

HUB_HOSTS = DOCKER_HUB_DOMAINS | {"auth.docker.io"}  # Hub's registry names and its token service (rate limits)
RETRY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
RETRY_AFTER_CAP = 60.0
EXT_REGISTRY = "preflight_registry"  # request extension: the registry host the request serves
log = logging.getLogger("preflight.registry")


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


def _redact_proxy(proxy: str) -> str:
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
    via = f" through proxy {_redact_proxy(proxy)}" if proxy else ""
    check_proxy = "check HTTPS_PROXY/HTTP_PROXY and NO_PROXY"
    mtls = (
        "if it requires a client certificate (mutual TLS), Docker and preflight read <name>.cert and "
        f"<name>.key from /etc/docker/certs.d/{host}/"
    )

    if isinstance(exc, httpx.ProxyError):
        return Diagnosis(
            Status.PROXY,
            host,
            f"proxy {_redact_proxy(proxy or '')} refused or failed the connection "
            f"to {host} ({_short(exc)}); {check_proxy}",
        )
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        reason = getattr(verify, "verify_message", None) or _short(verify)
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
        return Diagnosis(Status.TLS, host, f"TLS handshake with {host} failed ({_short(tls)})")
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
        if proxy and isinstance(exc, httpx.ConnectTimeout):
            return Diagnosis(
                Status.PROXY, host, f"connecting to proxy {_redact_proxy(proxy)} for {host} timed out; {check_proxy}"
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
            f"cannot connect to proxy {_redact_proxy(proxy)} for {host} ({_short(exc)}); {check_proxy}",
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


def _inside_tls(chain: list[BaseException]) -> bool:
    """The failure happened inside a TLS stream (after its handshake): anyio chains ``SSLWant*``."""
    return any(isinstance(e, (ssl.SSLWantReadError, ssl.SSLWantWriteError)) for e in chain)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:150] + "...") if len(text) > 150 else (text or type(exc).__name__)


def _retryable_exception(exc: httpx.TransportError) -> bool:
    """Transient failures worth another try: timeouts, resets, dropped connections, DNS EAI_AGAIN."""
    chain = list(exception_chain(exc))
    if _tls_error(chain) is not None:
        return False  # a TLS failure (an untrusted certificate, a refused client certificate) repeats
    if isinstance(exc, (httpx.TimeoutException, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return True
    if any(isinstance(e, socket.gaierror) and e.errno == socket.EAI_AGAIN for e in chain):
        return True
    return any(isinstance(e, ConnectionResetError) for e in chain)


# ----------------------------------------------------------------- the transport

GuardCheck = Callable[[str, bool, str | None], None]  # (host[:port], direct, registry host[:port]); raises to refuse


OVERALL = 128  # requests in flight over all hosts (per host: Config.concurrency)
SHARD = 8  # connections per httpcore pool (RegistryTransport._transport)


@dataclass
class Limits:
    per_host: int = 32
    overall: int = OVERALL
    attempts: int = 3
    backoff: float = 0.5  # first retry delay; doubles, with +-25% jitter
    connect_timeout: float = 5.0
    read_timeout: float = 10.0


class RegistryTransport(httpx.AsyncBaseTransport):
    """Guarded, limited, retrying transport shared by every request of one run."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        verify_for: Callable[[str], ssl.SSLContext | bool],
        guard: GuardCheck | None,
        deadline: float,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        inner: Callable[[ssl.SSLContext | bool, str | None], httpx.AsyncBaseTransport] | None = None,
        resolve: ResolveOnce | None = None,
    ) -> None:
        self.environ = environ
        self.verify_for = verify_for
        self.guard = guard
        self.deadline = deadline
        self.limits = limits or Limits()
        self.clock = clock
        self.backend = PinnedBackend(resolve or ResolveOnce())
        self._make_inner = inner or self._default_inner
        self._inner: dict[tuple[int, str | None, str, int], httpx.AsyncBaseTransport] = {}
        self._loads: dict[tuple[int, str | None, str], list[int]] = {}  # requests in flight per pool
        self._keep: list[object] = []  # contexts referenced by id() in _inner's keys
        self._host_sem: dict[str, asyncio.Semaphore] = {}
        self._all_sem = asyncio.Semaphore(self.limits.overall)
        self._guarded: dict[tuple[str, bool, str | None], Diagnosis | None] = {}
        self._judging: dict[tuple[str, bool, str | None], asyncio.Future[tuple[bool, Diagnosis | None]]] = {}
        self.dead: dict[str, Diagnosis] = {}  # by origin (scheme://host[:port])
        self.requests = 0
        self.dockerhub_remaining: int | None = None

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def proxy_for(self, url: httpx.URL) -> str | None:
        return proxy_for(url, self.environ)

    def _transport(self, url: httpx.URL) -> tuple[httpx.AsyncBaseTransport, Callable[[], None]]:
        """A connection pool for ``url``'s host and a function that gives its place back.

        Each pool holds at most ``SHARD`` connections: httpcore's pool bookkeeping costs the square
        of its connections on every request, so a host's requests fill one pool, then the next."""
        verify = self.verify_for(netloc(url)) if url.scheme == "https" else False
        base = (id(verify) if not isinstance(verify, bool) else int(verify), self.proxy_for(url), netloc(url))
        loads = self._loads.setdefault(base, [])
        shard = next((i for i, n in enumerate(loads) if n < SHARD), len(loads))
        if shard == len(loads):
            loads.append(0)
        key = (*base, shard)
        if key not in self._inner:
            self._keep.append(verify)
            self._inner[key] = self._make_inner(verify, base[1])
        loads[shard] += 1

        def done() -> None:
            loads[shard] -= 1

        return self._inner[key], done

    async def _check_guard(self, request: httpx.Request) -> None:
        if self.guard is None:
            return
        host = netloc(request.url)
        registry = request.extensions.get(EXT_REGISTRY)
        direct = registry is not None and registry == host
        key = (host, direct, registry)
        if key not in self._guarded:
            pending = self._judging.get(key)
            if pending is None:  # concurrent first requests share one check (one DNS lookup, one thread)
                pending = self._judging[key] = asyncio.ensure_future(self._judge(host, direct, registry))
                pending.add_done_callback(functools.partial(self._judged, key))
            settled, verdict = await asyncio.shield(pending)
            if not settled:
                return  # no verdict: the connection reports the same DNS failure (ResolveOnce), a retry asks again
            self._guarded[key] = verdict
        blocked = self._guarded[key]
        if blocked is not None:
            raise Unreachable(blocked)

    def _judged(self, key: tuple[str, bool, str | None], _done: object) -> None:
        self._judging.pop(key, None)

    async def _judge(self, host: str, direct: bool, registry: str | None) -> tuple[bool, Diagnosis | None]:
        """(verdict settled, refusal or None). An IP literal needs no DNS: judged inline, no thread."""
        assert self.guard is not None
        try:
            if parse_ip(split_host(host)[0]) is not None:
                self.guard(host, direct, registry)
            else:
                await asyncio.to_thread(self.guard, host, direct, registry)
        except socket.gaierror:
            return False, None
        except Exception as exc:  # guard.Blocked: a safe sentence
            return True, Diagnosis(
                Status.BLOCKED_BY_POLICY, host, f"request to {host} refused by preflight's address guard: {_short(exc)}"
            )
        return True, None

    def _timeouts(self) -> dict[str, float]:
        left = max(0.05, self.remaining())
        lim = self.limits
        return {
            "connect": min(lim.connect_timeout, left),
            "read": min(lim.read_timeout, max(0.05, left * 0.6)),  # leave time for one more try
            "write": min(lim.read_timeout, left),
            "pool": left,
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = netloc(request.url)
        origin = f"{request.url.scheme}://{host}"  # an insecure registry's https failing says nothing of its http
        what = f"{request.method} {safe_url(request.url)}"
        serves = request.extensions.get(EXT_REGISTRY) or host
        if origin in self.dead:
            log.debug("%s not sent: %s already failed in this run (registry %s)", what, origin, serves)
            raise Unreachable(self.dead[origin])
        proxy = self.proxy_for(request.url)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what body.py decodes under a bound
        sem = self._host_sem.setdefault(host, asyncio.Semaphore(self.limits.per_host))
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._check_guard(request)  # each attempt: a retried DNS failure gets judged too
            except Unreachable:
                log.debug("%s not sent: refused by the address guard (registry %s)", what, serves)
                raise
            if self.remaining() <= 0:
                log.debug("%s not sent: the deadline has passed (registry %s)", what, serves)
                raise DeadlineExceeded(host)
            timeouts = self._timeouts()
            request.extensions = {**request.extensions, "timeout": timeouts}
            started = time.monotonic()
            # The slot is held until the response is closed (its body read), so a host's connection
            # pool never queues more requests than it has connections (httpcore's queue is quadratic).
            try:
                release = await _take_slot(sem, self._all_sem)
                try:
                    inner, done = self._transport(request.url)
                    release = _both(done, release)
                    if origin in self.dead:
                        raise Unreachable(self.dead[origin])
                    started = time.monotonic()
                    response = _held(await inner.handle_async_request(request), release)
                    self.requests += 1  # answered: a DNS failure or refused connection sent nothing
                except BaseException:
                    release()
                    raise
            except httpx.TransportError as exc:
                log.debug(
                    "%s -> %s after %.0f ms (registry %s)",
                    what,
                    type(exc).__name__,
                    (time.monotonic() - started) * 1000,
                    serves,
                )
                if (
                    attempt < self.limits.attempts
                    and _retryable_exception(exc)
                    and await self._pause(attempt, None, what, type(exc).__name__)
                ):
                    continue
                if self._cut_short(exc, timeouts):
                    log.debug("%s: timed out early because the deadline is near; not checked", what)
                    raise DeadlineExceeded(host) from None  # our deadline, not the host: no verdict on it
                diagnosis = diagnose(exc, request.url, proxy)
                self.dead.setdefault(origin, diagnosis)
                raise Unreachable(diagnosis) from None
            except ImportError as exc:  # e.g. a socks:// proxy without httpx[socks]
                diagnosis = Diagnosis(Status.PROXY, host, f"proxy {_redact_proxy(proxy or '')} cannot be used: {exc}")
                raise Unreachable(diagnosis) from None
            log.debug(
                "%s -> %d in %.0f ms (registry %s, %s)",
                what,
                response.status_code,
                (time.monotonic() - started) * 1000,
                serves,
                response.http_version,
            )
            self._observe(response)
            if response.status_code in RETRY_STATUSES and attempt < self.limits.attempts:
                wait = parse_retry_after(response.headers.get("retry-after"))
                hub_429 = response.status_code == 429 and is_docker_hub(host, response)
                if wait is not None and wait > RETRY_AFTER_CAP:
                    log.debug("%s: Retry-After %.0f s is over the %.0f s cap; not retried", what, wait, RETRY_AFTER_CAP)
                elif hub_429:
                    log.debug("%s: Docker Hub rate limit; not retried", what)
                elif await self._pause(attempt, wait, what, f"HTTP {response.status_code}"):
                    await response.aclose()
                    continue
            return bounded(response, request, lambda: self._check_deadline(host))

    def _check_deadline(self, host: str) -> None:
        if self.remaining() <= 0:
            raise DeadlineExceeded(host)

    def _cut_short(self, exc: httpx.TransportError, timeouts: dict[str, float]) -> bool:
        """A timeout shorter than the usual one because the run's deadline was near."""
        lim = self.limits
        if isinstance(exc, httpx.ConnectTimeout):
            return timeouts["connect"] < lim.connect_timeout
        if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
            return timeouts["read" if isinstance(exc, httpx.ReadTimeout) else "write"] < lim.read_timeout
        return isinstance(exc, httpx.PoolTimeout)

    async def _pause(self, attempt: int, retry_after: float | None, what: str = "", why: str = "") -> bool:
        """Sleep before the next try; False when that would pass the deadline."""
        if retry_after is not None:
            delay = min(retry_after, RETRY_AFTER_CAP)
        else:
            delay = self.limits.backoff * (2 ** (attempt - 1)) * random.uniform(0.75, 1.25)
        if delay >= self.remaining() - 0.05:
            log.debug("%s: no retry after %s, the deadline is too close", what, why)
            return False
        log.debug("%s: retry %d of %d in %.2f s after %s", what, attempt, self.limits.attempts - 1, delay, why)
        await asyncio.sleep(delay)
        return True

    def _observe(self, response: httpx.Response) -> None:
        remaining = parse_ratelimit(response.headers.get("ratelimit-remaining"))
        if remaining is not None:
            current = self.dockerhub_remaining
            self.dockerhub_remaining = remaining if current is None else min(current, remaining)

    async def aclose(self) -> None:
        for inner in self._inner.values():
            await inner.aclose()

    def _default_inner(self, verify: ssl.SSLContext | bool, proxy: str | None) -> httpx.AsyncBaseTransport:
        return pinned_transport(verify, proxy, self.backend, SHARD)


async def _take_slot(*semaphores: asyncio.Semaphore) -> Callable[[], None]:
    """Acquire each semaphore in order; returns a function that releases them all, once."""
    taken: list[asyncio.Semaphore] = []
    try:
        for sem in semaphores:
            await sem.acquire()
            taken.append(sem)
    except BaseException:
        for sem in reversed(taken):
            sem.release()
        raise

    def release() -> None:
        while taken:
            taken.pop().release()

    return release


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    called = False

    def release() -> None:
        nonlocal called
        if not called:
            called = True
            first()
            second()

    return release


class _HeldStream(httpx.AsyncByteStream):
    """A response body whose closing (httpx closes it once read to the end) frees the request's slot."""

    def __init__(self, raw: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self.raw = raw
        self.release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.raw:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.raw.aclose()
        finally:
            self.release()


def _held(response: httpx.Response, release: Callable[[], None]) -> httpx.Response:
    if response.is_closed:  # a body already read (a test's MockTransport): nothing left to hold
        release()
        return response
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    response.stream = _HeldStream(stream, release)
    return response


class _QuickStream(httpcore.AsyncNetworkStream):
    """httpcore's stream with a cheap ``is_readable``: the pool asks it of every connection on every
    request, and anyio's typed-attribute lookup behind it was a tenth of the registry step's CPU."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner
        self.sock = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self.inner.read(max_bytes, timeout)
        except ssl.SSLError as exc:  # a TLS 1.3 alert after the handshake: anyio and httpcore let it through unmapped
            raise httpcore.ReadError(_short(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            await self.inner.write(buffer, timeout)
        except ssl.SSLError as exc:
            raise httpcore.WriteError(_short(exc)) from exc

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _QuickStream(await self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable" and self.sock is not None:
            return _readable(self.sock)  # an idle connection with data waiting was closed by the server
        return self.inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    try:
        if sock.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _has_h2() -> bool:
    """Whether httpx can speak HTTP/2 here (the optional ``h2`` package, httpx[http2])."""
    return importlib.util.find_spec("h2") is not None


def pinned_transport(
    verify: ssl.SSLContext | bool, proxy: str | None, backend: httpcore.AsyncNetworkBackend, connections: int
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, HTTP/2 enabled (used when TLS negotiates it), connecting through ``backend``."""
    transport = httpx.AsyncHTTPTransport(
        verify=verify,
        proxy=proxy,
        retries=0,
        http2=_has_h2(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # an httpcore that changed: fail loudly, never connect unpinned
        raise RuntimeError("httpcore connection pool without _network_backend: cannot pin addresses")
    pool._network_backend = backend
    return transport


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connect to the addresses ``resolve`` settled on (the ones the guard judged), never to a second
    DNS answer. httpcore keeps the URL's host name for SNI and the certificate check, and httpx for
    ``Host``, so only the socket's destination changes. Proxies are resolved the same way (the
    target behind an HTTP proxy is resolved by the proxy)."""

    def __init__(self, resolve: ResolveOnce, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()
        self.connected: list[tuple[str, str, int]] = []  # (name, address, port), for tests and --debug

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if parse_ip(host) is not None:
            addresses = [host.strip("[]")]
        else:
            try:
                addresses = await asyncio.wait_for(asyncio.to_thread(self.resolve.settled, host), timeout)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            if not addresses:
                raise httpcore.ConnectError(f"{host} resolved to no address")
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # refused, unreachable: the next approved address
                failure = exc
                continue
            self.connected.append((host, address, port))
            log.debug("connected to %s at %s port %d", visible(host), address, port)
            return _QuickStream(stream)
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
