"""One concurrent batch of lookups: cache, endpoints and mirrors, credentials, deadline, progress.

``run(lookups, settings)`` is the body of ``preflight.registry.resolve()`` (a module named
``resolve`` would shadow that function): it builds the run's
single ``httpx.AsyncClient`` (over ``RegistryTransport``), answers what it can from the facts
cache, probes the rest concurrently (``concurrency`` per host, 32 by default; 128 overall), falls back from a failing
docker.io mirror to Docker Hub, and marks whatever has not finished at the deadline
``NOT_CHECKED``. A host found unreachable is diagnosed once; later references on it fail fast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import httpx

from ..facts import ImageFacts, Status
from ..imageref import ImageRef
from . import endpoints as ep
from .auth import AuthState
from .cache import FactsCache, cache_key, default_cache_dir, endpoint_identity
from .client import Endpoint, Run, probe_with_fallback
from .credentials import Credential, CredentialStore
from .guard import ResolveOnce, check_host, default_resolve
from .transport import OVERALL, Diagnosis, Limits, RegistryTransport, Unreachable, netloc

if TYPE_CHECKING:
    import ssl

    from . import Lookup, Resolution, Settings

_P = ParamSpec("_P")
_T = TypeVar("_T")

log = logging.getLogger("preflight.registry")
_FALLBACK_STATUSES = frozenset({Status.OK})


class _Plan:
    """What one lookup needs before it touches the network."""

    def __init__(
        self,
        lookup: Lookup,
        endpoints: list[ep.Endpoint],
        creds: dict[str, Credential | None],
        environ: Mapping[str, str],
    ) -> None:
        self.lookup = lookup
        self.endpoints = endpoints
        self.creds = creds
        ids = ",".join(sorted({c.identity for c in creds.values() if c is not None})) or None
        trust = [
            endpoint_identity(e.base_url, insecure=e.insecure, ca_file=e.ca_file, environ=environ) for e in endpoints
        ]
        self.key = cache_key(lookup.ref.canonical, trust, sorted(lookup.platforms), ids)

    @property
    def host(self) -> str:
        return netloc(httpx.URL(self.endpoints[0].base_url)) if self.endpoints else self.lookup.ref.domain


class _DaemonThreads(concurrent.futures.ThreadPoolExecutor):
    """The run's default executor (DNS lookups of the address guard and of connections, the
    credential step): every call gets its own daemon thread and shutdown does not wait, so a call
    still blocked at the deadline (a resolver that never answers) cannot keep the process alive."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def work() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting task
                    future.set_exception(exc)

        threading.Thread(target=work, name="preflight-blocking-call", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def _default_context() -> ssl.SSLContext:
    """The verified TLS context for hosts that are not configured endpoints (realms, redirects)."""
    return ep.ssl_context_for(ep.Endpoint("https://default", "default", False, None, False, "default"))


async def run(
    lookups: Sequence[Lookup],
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    inner: Callable | None = None,
    limits: Limits | None = None,
    resolver: Callable[[str], list[str]] | None = None,
) -> Resolution:
    """The registry step. ``inner`` (a transport factory), ``limits`` and ``resolver`` (the
    address guard's DNS lookup) exist for tests; production leaves them alone."""
    from . import Resolution

    cfg = settings.config
    deadline = clock() + max(0.0, float(cfg.timeout))
    threads = _DaemonThreads(max_workers=1)
    asyncio.get_running_loop().set_default_executor(threads)
    warnings: list[str] = list(ep.config_warnings(cfg))
    if settings.daemon is not None:
        daemon = settings.daemon
        log.debug(
            "registry mirrors and insecure registries from %s (mirrors: %s; insecure: %s), not from daemon.json",
            daemon.source,
            ", ".join(daemon.mirrors) or "none",
            ", ".join(daemon.insecure) or "none",
        )
    else:
        daemon, daemon_warnings = ep.load_daemon_json(Path(cfg.daemon_json) if cfg.daemon_json else None)
        warnings.extend(daemon_warnings)

    unique: dict[str, Lookup] = {}
    for lookup in lookups:
        known = unique.get(lookup.ref.canonical)
        platforms = lookup.platforms | (known.platforms if known else frozenset())
        unique[lookup.ref.canonical] = type(lookup)(lookup.ref, frozenset(platforms))

    total = len(unique)
    if any(lk.ref.domain.lower() == ep.HUB_HOST for lk in unique.values()):
        warnings.append(
            f"references naming {ep.HUB_HOST} are looked up on Docker Hub exactly as written, without "
            "the library/ prefix of official images; write docker.io/... (or just the name) instead"
        )

    # One DNS answer per name for the run: the guard judges it and connections use exactly it.
    resolve_once = ResolveOnce(resolver or default_resolve)

    def bounded_resolve(name: str) -> list[str]:
        """daemon.json CIDR matching resolves names: given up at the deadline (TimeoutError is an
        OSError, which counts as "no match"), so a resolver that never answers cannot hold the run."""
        return threads.submit(resolve_once, name).result(timeout=max(0.0, deadline - clock()))

    # Planning is per registry: a host that breaks it (a bug, or a name the URL library refuses)
    # fails that registry's references (PF209 each), never the run.
    endpoint_lists: dict[str, list[ep.Endpoint]] = {}
    broken: dict[str, BaseException] = {}
    for domain in sorted({lk.ref.domain for lk in unique.values()}):
        try:
            eps = ep.endpoints_for(
                domain, cfg, daemon, strict_loopback=settings.strict_loopback, resolve=bounded_resolve
            )
            for e in eps:
                httpx.URL(e.base_url)  # raises for a host httpx cannot connect to
            endpoint_lists[domain] = eps
        except Exception as exc:
            broken[domain] = exc
    facts: dict[str, ImageFacts] = {}
    for canonical, lookup in list(unique.items()):
        if lookup.ref.domain in broken:
            facts[canonical] = internal_error(canonical, lookup.ref.domain, broken[lookup.ref.domain])
            del unique[canonical]
    # Credential helpers may use at most half of the run's time (a hung helper must not eat it all).
    store = CredentialStore(
        settings.environ,
        enabled=settings.use_credentials,
        deadline=clock() + max(0.0, float(cfg.timeout)) / 2,
        clock=clock,
    )
    cred_domains = {e.credential_domain for eps in endpoint_lists.values() for e in eps}
    creds = await asyncio.to_thread(lambda: {d: store.lookup(d) for d in sorted(cred_domains)})
    warnings.extend(store.warnings)
    for domain, cred in creds.items():
        log.debug("credentials for %s: %s", domain, f"from {cred.source}" if cred is not None else "none")

    cache = None
    if settings.use_cache:
        cache = FactsCache(default_cache_dir(settings.environ), cfg.cache_ttl, cfg.cache_negative_ttl)
    plans: list[_Plan] = []
    for canonical, lookup in unique.items():
        eps = endpoint_lists[lookup.ref.domain]
        plan = _Plan(lookup, eps, {e.credential_domain: creds.get(e.credential_domain) for e in eps}, settings.environ)
        cached = cache.get(plan.key) if cache is not None else None
        if cached is not None:
            log.debug("%s: answered from the cache (%s)", canonical, cached.status.value)
            facts[canonical] = cached
        else:
            plans.append(plan)

    by_host: dict[str, ep.Endpoint] = {}
    for eps in endpoint_lists.values():
        for e in eps:
            by_host.setdefault(netloc(httpx.URL(e.base_url)), e)
    default_ctx = functools.cache(_default_context)  # loading the system CAs costs time: only when needed

    def verify_for(host: str) -> ssl.SSLContext:
        endpoint = by_host.get(host)
        if endpoint is None:
            return default_ctx()
        try:
            return ep.ssl_context_for(endpoint)
        except ep.CAError as exc:
            raise Unreachable(Diagnosis(Status.TLS, host, str(exc))) from None

    def guard(host: str, direct: bool, registry: str | None) -> None:
        check_host(
            host,
            direct=direct,
            registry_host=registry,
            allow_hosts=settings.allow_hosts,
            untrusted=settings.untrusted,
            resolve=resolve_once,
        )

    transport = RegistryTransport(
        environ=settings.environ,
        verify_for=verify_for,
        guard=guard,
        deadline=deadline,
        limits=limits or Limits(per_host=cfg.concurrency, overall=max(OVERALL, cfg.concurrency)),
        clock=clock,
        inner=inner,
        resolve=resolve_once,
    )
    done = len(facts)
    if settings.progress is not None and plans:
        settings.progress(done, total, plans[0].host)

    async with httpx.AsyncClient(
        transport=transport, trust_env=True, follow_redirects=False, timeout=httpx.Timeout(10.0, connect=5.0)
    ) as client:
        shared = Run(client, AuthState(clock=clock), transport.proxy_for)
        tasks = {asyncio.ensure_future(_lookup(shared, plan)): plan for plan in plans}
        pending = set(tasks)
        while pending:
            left = deadline - clock()
            if left <= 0:
                break
            # Woken at least every second, so that progress can say who it is waiting on.
            tick = min(left, 1.0) if settings.progress is not None else left
            finished, pending = await asyncio.wait(pending, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                plan = tasks[task]
                facts[plan.lookup.ref.canonical] = _result(task, plan)
                if cache is not None:
                    cache.put(plan.key, facts[plan.lookup.ref.canonical])
            done += len(finished)
            if settings.progress is not None:
                settings.progress(done, total, _slowest([tasks[t] for t in pending]))
        if pending:
            log.debug("deadline of %g s reached: %d lookup(s) not finished", cfg.timeout, len(pending))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for task in pending:
            plan = tasks[task]
            facts[plan.lookup.ref.canonical] = ImageFacts(
                plan.lookup.ref.canonical,
                Status.NOT_CHECKED,
                plan.host,
                detail=f"the lookup did not finish before the {cfg.timeout:g} s deadline",
            )
    await transport.aclose()
    if cache is not None:
        cache.save()
        if cache.error:
            warnings.append(f"the registry facts cache was not saved: {cache.error}")

    for item in facts.values():
        warnings.extend(item.notes)
    remaining = [f.ratelimit_remaining for f in facts.values() if f.ratelimit_remaining is not None]
    if transport.dockerhub_remaining is not None:
        remaining.append(transport.dockerhub_remaining)
    return Resolution(
        facts=facts,
        requests=transport.requests,
        cache_hits=cache.hits if cache is not None else 0,
        dockerhub_remaining=min(remaining) if remaining else None,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _slowest(plans: list[_Plan]) -> str:
    counts = Counter(p.host for p in plans)
    return counts.most_common(1)[0][0] if counts else ""


def _result(task: asyncio.Future[ImageFacts], plan: _Plan) -> ImageFacts:
    exc = task.exception()
    if exc is None:
        return task.result()
    return internal_error(plan.lookup.ref.canonical, plan.host, exc)


def internal_error(reference: str, host: str, exc: BaseException) -> ImageFacts:
    """A bug must not pass as "ok" nor end the run: that reference is PF209, without a traceback
    (``PREFLIGHT_DEBUG=1`` prints it) and without the exception's text (it may quote anything)."""
    if os.environ.get("PREFLIGHT_DEBUG"):  # developers: show the bug behind "internal error"
        traceback.print_exception(exc)
    log.debug("%s: internal error %s", reference, type(exc).__name__)
    return ImageFacts(
        reference,
        Status.INTERNAL_ERROR,
        host,
        detail=f"preflight failed while looking it up (internal error {type(exc).__name__}; "
        "PREFLIGHT_DEBUG=1 shows where); please report it",
    )


async def _lookup(shared: Run, plan: _Plan) -> ImageFacts:
    """Try the endpoints in order; a docker.io mirror that does not answer OK falls back to the Hub."""
    ref: ImageRef = plan.lookup.ref
    notes: list[str] = []
    result: ImageFacts | None = None
    for i, endpoint in enumerate(plan.endpoints):
        last = i == len(plan.endpoints) - 1
        target = Endpoint(endpoint.base_url, insecure=endpoint.insecure, mirror=endpoint.mirror)
        cred = plan.creds.get(endpoint.credential_domain)
        result = await probe_with_fallback(shared, target, ref, plan.lookup.platforms, cred, endpoint.credential_domain)
        if last or result.status in _FALLBACK_STATUSES:
            break
        if endpoint.mirror:
            if result.status.unreachable or result.status in (Status.REGISTRY_ERROR, Status.RATE_LIMITED):
                notes.append(f"mirror {target.host} failed ({result.detail}); fell back to the next endpoint")
                log.debug(
                    "%s: mirror %s failed (%s); trying the next endpoint",
                    ref.canonical,
                    target.host,
                    result.status.value,
                )
            continue
        if not result.status.unreachable:
            break  # a real answer from a non-mirror endpoint: no fallback (e.g. insecure https then http)
        log.debug("%s: %s unreachable (%s); trying the next endpoint", ref.canonical, target.host, result.status.value)
    assert result is not None
    log.debug("%s: %s (%s)", ref.canonical, result.status.value, result.host)
    return replace(result, notes=tuple(dict.fromkeys((*notes, *result.notes)))) if notes else result
