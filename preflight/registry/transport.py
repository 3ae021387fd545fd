"""The one HTTP transport of a run: address guard, deadline, limits, retries, rate-limit observation.

The registry step in layers, as go-containerregistry's transports are: ``RegistryTransport`` (here)
is the guard and retry layer over ``pool`` (connections: address-pinned, HTTP/2-capable httpx
transports, one per TLS context, proxy and host, and the slots that bound them), and both use
``network`` (failure diagnosis, proxy choice and small parsers, no connection state).

Every request (registry, token realm, redirect hop, ``Link`` page) passes through
``handle_async_request``: address guard, per-host and overall concurrency, a per-attempt
timeout clipped to the run's deadline (a timeout cut short by the deadline is "not checked",
never a verdict on the host), bounded retries with backoff and jitter for
connection failures and 408/429/5xx (``Retry-After`` honoured up to 60 s, never past the
deadline; Docker Hub's 429 is not retried), and "fail fast" once a host is known dead.

Each attempt is logged at DEBUG on the ``preflight.registry`` logger (``--debug``): method, URL
without query values or user info (``safe_url``), status or error, elapsed ms, the registry it
serves; retries and refusals too. Never a header, token, credential or body.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from ..facts import Status
from .body import ACCEPT_ENCODING, bounded
from .guard import ResolveOnce, parse_ip, split_host
from .network import (
    DeadlineExceeded,
    Diagnosis,
    Unreachable,
    diagnose,
    is_docker_hub,
    netloc,
    parse_ratelimit,
    parse_retry_after,
    proxy_for,
    redact_proxy,
    retryable_exception,
    safe_url,
    short_error,
)
from .pool import PLAIN, Inner, PinnedBackend, Pools, held, release_both, take_slot

RETRY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
RETRY_AFTER_CAP = 60.0
EXT_REGISTRY = "preflight_registry"  # request extension: the registry host the request serves
OVERALL = 128  # requests in flight over all hosts (per host: Config.concurrency)
GuardCheck = Callable[[str, bool, str | None], None]  # (host[:port], direct, registry host[:port]); raises to refuse
log = logging.getLogger("preflight.registry")


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
        inner: Inner | None = None,
        resolve: ResolveOnce | None = None,
    ) -> None:
        self.environ = environ
        self.verify_for = verify_for
        self.guard = guard
        self.deadline = deadline
        self.limits = limits or Limits()
        self.clock = clock
        self.backend = PinnedBackend(resolve or ResolveOnce())
        self.pools = Pools(self.backend, inner)
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
        """A connection pool for ``url`` (pool.Pools) and a function that gives its place back."""
        verify = self.verify_for(netloc(url)) if url.scheme == "https" else PLAIN
        return self.pools.take(verify, self.proxy_for(url), netloc(url))

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
                Status.BLOCKED_BY_POLICY,
                host,
                f"request to {host} refused by preflight's address guard: {short_error(exc)}",
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
                release = await take_slot(sem, self._all_sem)
                try:
                    inner, done = self._transport(request.url)
                    release = release_both(done, release)
                    if origin in self.dead:
                        raise Unreachable(self.dead[origin])
                    started = time.monotonic()
                    response = held(await inner.handle_async_request(request), release)
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
                    and retryable_exception(exc)
                    and await self._pause(attempt, None, what, type(exc).__name__)
                ):
                    continue
                if self._cutshort_error(exc, timeouts):
                    log.debug("%s: timed out early because the deadline is near; not checked", what)
                    raise DeadlineExceeded(host) from None  # our deadline, not the host: no verdict on it
                diagnosis = diagnose(exc, request.url, proxy)
                self.dead.setdefault(origin, diagnosis)
                raise Unreachable(diagnosis) from None
            except ImportError as exc:  # e.g. a socks:// proxy without httpx[socks]
                diagnosis = Diagnosis(Status.PROXY, host, f"proxy {redact_proxy(proxy or '')} cannot be used: {exc}")
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

    def _cutshort_error(self, exc: httpx.TransportError, timeouts: dict[str, float]) -> bool:
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
        await self.pools.aclose()
