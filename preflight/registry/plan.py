"""Plan the registry step: unique references, endpoints, credentials, cache keys, cached answers.

``make_plan`` decides everything that needs no registry request (``batch.execute`` then sends
them): the endpoints of each registry domain (mirrors, insecure hosts, CAs), the stored credentials
for each, one cache key per reference (reference, endpoints and their trust, platforms, who asks),
and the answers the facts cache already holds.

Planning imports no HTTP code: when the cache answers every reference (a warm rerun, a pre-commit
hook), the run never loads httpx or asyncio (``preflight.registry.resolve``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from ..facts import ImageFacts, Status
from . import endpoints as ep
from .cache import FactsCache, cache_key, default_cache_dir, endpoint_identity
from .credentials import Credential, CredentialStore
from .guard import ResolveOnce, Resolver, default_resolve

if TYPE_CHECKING:
    from . import Lookup, Settings

_P = ParamSpec("_P")
_T = TypeVar("_T")

log = logging.getLogger("preflight.registry")


class LookupPlan:
    """What one lookup needs before it touches the network."""

    def __init__(
        self,
        lookup: Lookup,
        endpoints: list[ep.Endpoint],
        creds: dict[str, Credential | None],
        environ: Mapping[str, str],
        deep: bool = False,
    ) -> None:
        self.lookup = lookup
        self.endpoints = endpoints
        self.creds = creds
        ids = ",".join(sorted({c.identity for c in creds.values() if c is not None})) or None
        trust = [
            endpoint_identity(
                e.base_url, insecure=e.insecure, ca_file=e.ca_file, environ=environ, client_cert=e.client_cert
            )
            for e in endpoints
        ]
        self.key = cache_key(lookup.ref.canonical, trust, sorted(lookup.platforms), ids, deep=deep)

    @functools.cached_property
    def host(self) -> str:
        """The host that progress, deadline and failure messages name (the first endpoint's)."""
        if not self.endpoints:
            return self.lookup.ref.domain
        import httpx  # only lookups that go to the network ask

        from .network import netloc

        return netloc(httpx.URL(self.endpoints[0].base_url))


class DaemonThreads(concurrent.futures.ThreadPoolExecutor):
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


@dataclass
class Timing:
    """Time for the whole run: the injected clock, the overall deadline, the threads that block."""

    now: Callable[[], float]
    deadline: float
    threads: concurrent.futures.Executor
    resolve_once: ResolveOnce  # one DNS answer per name for the run: the guard judges it, connections use it

    def left(self) -> float:
        return max(0.0, self.deadline - self.now())

    @classmethod
    def start(
        cls, settings: Settings, clock: Callable[[], float] = time.monotonic, resolver: Resolver | None = None
    ) -> Timing:
        """The run's clock starts now: its deadline is ``timeout`` seconds away."""
        deadline = clock() + max(0.0, float(settings.config.timeout))
        return cls(clock, deadline, DaemonThreads(max_workers=1), ResolveOnce(resolver or default_resolve))


@dataclass
class Plan:
    """Everything decided before the network: endpoints, credentials, cache keys, answers already known."""

    total: int  # unique references
    todo: list[LookupPlan]  # lookups that need the network
    facts: dict[str, ImageFacts]  # answered without it: the cache, registries that could not be planned
    endpoints: dict[str, list[ep.Endpoint]]  # by ImageRef.domain
    warnings: list[str]
    cache: FactsCache | None


# ----------------------------------------------------------------- plan


def make_plan(lookups: Sequence[Lookup], settings: Settings, timing: Timing) -> Plan:
    """Merge duplicate references, choose endpoints and credentials, answer what the cache knows."""
    cfg = settings.config
    warnings: list[str] = list(ep.config_warnings(cfg))
    daemon = _daemon_config(settings, warnings)
    unique = _unique(lookups)
    total = len(unique)
    if any(lk.ref.domain.lower() == ep.HUB_HOST for lk in unique.values()):
        warnings.append(
            f"references naming {ep.HUB_HOST} are looked up on Docker Hub exactly as written, without "
            "the library/ prefix of official images; write docker.io/... (or just the name) instead"
        )
    endpoint_lists, broken = _endpoint_lists(unique.values(), settings, daemon, timing)
    facts: dict[str, ImageFacts] = {}
    for canonical, lookup in list(unique.items()):
        if lookup.ref.domain in broken:
            facts[canonical] = internal_error(canonical, lookup.ref.domain, broken[lookup.ref.domain])
            del unique[canonical]
    creds = _credentials(endpoint_lists, settings, timing, warnings)
    cache = None
    if settings.use_cache:
        cache = FactsCache(default_cache_dir(settings.environ), cfg.cache_ttl, cfg.cache_negative_ttl)
    todo: list[LookupPlan] = []
    for canonical, lookup in unique.items():
        eps = endpoint_lists[lookup.ref.domain]
        plan = LookupPlan(
            lookup, eps, {e.credential_domain: creds.get(e.credential_domain) for e in eps}, settings.environ, cfg.deep
        )
        cached = cache.get(plan.key) if cache is not None else None
        if cached is not None:
            log.debug("%s: answered from the cache (%s)", canonical, cached.status.value)
            facts[canonical] = cached
        else:
            todo.append(plan)
    return Plan(total, _connectable(todo, facts, endpoint_lists), facts, endpoint_lists, warnings, cache)


def _connectable(
    todo: list[LookupPlan], facts: dict[str, ImageFacts], endpoint_lists: dict[str, list[ep.Endpoint]]
) -> list[LookupPlan]:
    """The lookups whose endpoints httpx can connect to. A registry with a host httpx refuses leaves
    ``endpoint_lists`` (the transport is built from it) and its lookups fail (PF209 each), never the
    run; its answers from the cache stand. Only a run with lookups for the network loads httpx."""
    if not todo:
        return todo
    import httpx

    refused: dict[str, BaseException] = {}
    for domain, eps in list(endpoint_lists.items()):
        try:
            for e in eps:
                httpx.URL(e.base_url)  # raises for a host httpx cannot connect to
        except Exception as exc:
            refused[domain] = exc
            del endpoint_lists[domain]
    kept: list[LookupPlan] = []
    for plan in todo:
        why = refused.get(plan.lookup.ref.domain)
        if why is None:
            kept.append(plan)
        else:
            facts[plan.lookup.ref.canonical] = internal_error(plan.lookup.ref.canonical, plan.lookup.ref.domain, why)
    return kept


def _daemon_config(settings: Settings, warnings: list[str]) -> ep.DaemonConfig:
    """The engine's own registry settings when it answered, else daemon.json."""
    if settings.daemon is None:
        cfg = settings.config
        daemon, daemon_warnings = ep.load_daemon_json(Path(cfg.daemon_json) if cfg.daemon_json else None)
        warnings.extend(daemon_warnings)
        return daemon
    daemon = settings.daemon
    log.debug(
        "registry mirrors and insecure registries from %s (mirrors: %s; insecure: %s), not from daemon.json",
        daemon.source,
        ", ".join(daemon.mirrors) or "none",
        ", ".join(daemon.insecure) or "none",
    )
    return daemon


def _unique(lookups: Sequence[Lookup]) -> dict[str, Lookup]:
    """One lookup per canonical reference, asking for every platform any of its uses needs."""
    unique: dict[str, Lookup] = {}
    for lookup in lookups:
        known = unique.get(lookup.ref.canonical)
        platforms = lookup.platforms | (known.platforms if known else frozenset())
        unique[lookup.ref.canonical] = type(lookup)(lookup.ref, frozenset(platforms))
    return unique


def _endpoint_lists(
    lookups: Iterable[Lookup], settings: Settings, daemon: ep.DaemonConfig, timing: Timing
) -> tuple[dict[str, list[ep.Endpoint]], dict[str, BaseException]]:
    """Endpoints per registry domain. Planning is per registry: a host that breaks it (a bug, or a name
    the URL library refuses) fails that registry's references (PF209 each), never the run."""

    def bounded_resolve(name: str) -> list[str]:
        """daemon.json CIDR matching resolves names: given up at the deadline (TimeoutError is an
        OSError, which counts as "no match"), so a resolver that never answers cannot hold the run."""
        return timing.threads.submit(timing.resolve_once, name).result(timeout=timing.left())

    endpoint_lists: dict[str, list[ep.Endpoint]] = {}
    broken: dict[str, BaseException] = {}
    for domain in sorted({lk.ref.domain for lk in lookups}):
        try:
            eps = ep.endpoints_for(
                domain,
                settings.config,
                daemon,
                strict_loopback=settings.strict_loopback,
                resolve=bounded_resolve,
                certs_dir=settings.certs_dir,
            )
            endpoint_lists[domain] = eps
        except Exception as exc:
            broken[domain] = exc
    return endpoint_lists, broken


def _credentials(
    endpoint_lists: Mapping[str, list[ep.Endpoint]], settings: Settings, timing: Timing, warnings: list[str]
) -> dict[str, Credential | None]:
    """Stored credentials per credential domain. Helpers may use at most half of the run's time (a
    hung helper must not eat it all)."""
    store = CredentialStore(
        settings.environ,
        enabled=settings.use_credentials,
        deadline=timing.now() + max(0.0, float(settings.config.timeout)) / 2,
        clock=timing.now,
    )
    cred_domains = {e.credential_domain for eps in endpoint_lists.values() for e in eps}
    creds = {d: store.lookup(d) for d in sorted(cred_domains)}
    warnings.extend(store.warnings)
    for domain, cred in creds.items():
        log.debug("credentials for %s: %s", domain, f"from {cred.source}" if cred is not None else "none")
    return creds


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
