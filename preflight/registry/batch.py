"""The registry step in three stages: plan → execute → summarize.

``run(lookups, settings)`` is the body of ``preflight.registry.resolve()`` (a module named
``resolve`` would shadow that function):

* ``plan.make_plan``: unique references, endpoints and mirrors, credentials, cache keys, the
  answers the facts cache already has (no registry request);
* ``execute``: the run's single ``httpx.AsyncClient`` (over ``RegistryTransport``) probes the rest
  concurrently (``concurrency`` per host, 32 by default; 128 overall), falls back from a failing
  docker.io mirror to Docker Hub, reports progress, caches each answer, and marks whatever has not
  finished at the deadline ``NOT_CHECKED``. A host found unreachable is diagnosed once; later
  references on it fail fast;
* ``summarize``: the ``Resolution`` (facts, request counts, rate limit, warnings).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx

from ..facts import ImageFacts, Status
from ..imageref import ImageRef
from . import endpoints as ep
from .auth import AuthState
from .cache import FactsCache
from .fetch import Run, base_url
from .guard import check_host
from .lookup import probe_with_fallback
from .network import Diagnosis, Unreachable, netloc
from .plan import LookupPlan, Plan, Timing, internal_error, make_plan
from .summary import Executed, summarize
from .tls import CAError, ssl_context_for
from .transport import OVERALL, Limits, RegistryTransport

if TYPE_CHECKING:
    import ssl

    from . import Lookup, Resolution, Settings
    from .deep import Walker

log = logging.getLogger("preflight.registry")
_FALLBACK_STATUSES = frozenset({Status.OK})
_DEFINITE = frozenset({Status.TAG_MISSING, Status.DIGEST_MISSING, Status.REPO_MISSING})  # a mirror's evidence


class _NoCookies(httpx.Cookies):
    """Cookies a registry sets are neither kept nor sent back, as Docker's own registry client keeps
    none (it has no cookie jar): a session cookie from one answer cannot change the next. Keeping
    them would also cost a ``urllib`` request object for every response."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _default_context() -> ssl.SSLContext:
    """The verified TLS context for hosts that are not configured endpoints (realms, redirects)."""
    return ssl_context_for(ep.Endpoint("https://default", "default", False, None, False, "default"))


async def run(
    lookups: Sequence[Lookup],
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    inner: Callable | None = None,
    limits: Limits | None = None,
    resolver: Callable[[str], list[str]] | None = None,
) -> Resolution:
    """The registry step: plan → execute → summarize. ``inner`` (a transport factory), ``limits`` and
    ``resolver`` (the address guard's DNS lookup) exist for tests; production leaves them alone."""
    timing = Timing.start(settings, clock, resolver)
    plan = make_plan(lookups, settings, timing)
    executed = await execute(plan, settings, timing, inner=inner, limits=limits)
    return summarize(plan, executed)


# ----------------------------------------------------------------- execute


def _transport(
    plan: Plan, settings: Settings, timing: Timing, inner: Callable | None, limits: Limits | None
) -> RegistryTransport:
    """The run's one transport: TLS per endpoint, the address guard, limits, the deadline."""
    cfg = settings.config
    by_host: dict[str, ep.Endpoint] = {}
    for eps in plan.endpoints.values():
        for e in eps:
            by_host.setdefault(netloc(httpx.URL(e.base_url)), e)
    default_ctx = functools.cache(_default_context)  # loading the system CAs costs time: only when needed

    def verify_for(host: str) -> ssl.SSLContext:
        endpoint = by_host.get(host)
        if endpoint is None:
            return default_ctx()
        try:
            return ssl_context_for(endpoint)
        except CAError as exc:
            raise Unreachable(Diagnosis(Status.TLS, host, str(exc))) from None

    def guard(host: str, direct: bool, registry: str | None) -> None:
        check_host(
            host,
            direct=direct,
            registry_host=registry,
            allow_hosts=settings.allow_hosts,
            untrusted=settings.untrusted,
            resolve=timing.resolve_once,
        )

    return RegistryTransport(
        environ=settings.environ,
        verify_for=verify_for,
        guard=guard,
        deadline=timing.deadline,
        limits=limits or Limits(per_host=cfg.concurrency, overall=max(OVERALL, cfg.concurrency)),
        clock=timing.now,
        inner=inner,
        resolve=timing.resolve_once,
    )


async def execute(
    plan: Plan, settings: Settings, timing: Timing, *, inner: Callable | None = None, limits: Limits | None = None
) -> Executed:
    """Run the planned lookups concurrently until they finish or the deadline passes; report progress;
    cache each answer as it comes; whatever has not finished at the deadline is ``NOT_CHECKED``."""
    asyncio.get_running_loop().set_default_executor(timing.threads)
    transport = _transport(plan, settings, timing, inner, limits)
    progress = _Progress(settings.progress, len(plan.facts), plan.total)
    if plan.todo:
        progress.show(plan.todo[0].host)
    facts: dict[str, ImageFacts] = {}
    async with httpx.AsyncClient(
        transport=transport, trust_env=True, follow_redirects=False, timeout=httpx.Timeout(10.0, connect=5.0)
    ) as client:
        client._cookies = _NoCookies()
        shared = Run(client, AuthState(clock=timing.now), transport.proxy_for)
        walker = None
        if settings.config.deep:
            from .deep import Walker  # only --deep walks blobs

            walker = Walker(shared, plan.cache)
        tasks: dict[asyncio.Future[ImageFacts], LookupPlan] = {
            asyncio.ensure_future(_lookup(shared, p, walker)): p for p in plan.todo
        }
        pending = await _until_deadline(tasks, timing, progress, facts, plan.cache)
        await _give_up(pending, tasks, settings.config.timeout, facts)
    await transport.aclose()
    if plan.cache is not None:
        plan.cache.save()
    return Executed(facts, transport.requests, transport.dockerhub_remaining)


class _Progress:
    """``Settings.progress`` with the count of finished lookups (a no-op without a callback)."""

    def __init__(self, report: Callable[[int, int, str], None] | None, done: int, total: int) -> None:
        self.report = report
        self.done = done
        self.total = total

    def show(self, waiting_on: str) -> None:
        if self.report is not None:
            self.report(self.done, self.total, waiting_on)


async def _until_deadline(
    tasks: dict[asyncio.Future[ImageFacts], LookupPlan],
    timing: Timing,
    progress: _Progress,
    facts: dict[str, ImageFacts],
    cache: FactsCache | None,
) -> set[asyncio.Future[ImageFacts]]:
    """Collect answers as they come until all are in or the deadline passes; returns the unfinished."""
    pending = set(tasks)
    while pending:
        left = timing.deadline - timing.now()
        if left <= 0:
            break
        # Woken at least every second, so that progress can say who it is waiting on.
        tick = min(left, 1.0) if progress.report is not None else left
        finished, pending = await asyncio.wait(pending, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            plan = tasks[task]
            facts[plan.lookup.ref.canonical] = _result(task, plan)
            if cache is not None:
                cache.put(plan.key, facts[plan.lookup.ref.canonical])
        progress.done += len(finished)
        if progress.report is not None:
            progress.show(_slowest([tasks[t] for t in pending]))
    return pending


async def _give_up(
    pending: set[asyncio.Future[ImageFacts]],
    tasks: dict[asyncio.Future[ImageFacts], LookupPlan],
    timeout: float,
    facts: dict[str, ImageFacts],
) -> None:
    """Cancel what the deadline cut off; each becomes ``NOT_CHECKED``."""
    if not pending:
        return
    log.debug("deadline of %g s reached: %d lookup(s) not finished", timeout, len(pending))
    for task in pending:
        task.cancel()
    await asyncio.wait(pending, timeout=1.0)
    for task in pending:
        plan = tasks[task]
        facts[plan.lookup.ref.canonical] = ImageFacts(
            plan.lookup.ref.canonical,
            Status.NOT_CHECKED,
            plan.host,
            detail=f"the lookup did not finish before the {timeout:g} s deadline",
        )


def _slowest(plans: list[LookupPlan]) -> str:
    counts = Counter(p.host for p in plans)
    return counts.most_common(1)[0][0] if counts else ""


def _result(task: asyncio.Future[ImageFacts], plan: LookupPlan) -> ImageFacts:
    exc = task.exception()
    if exc is None:
        return task.result()
    return internal_error(plan.lookup.ref.canonical, plan.host, exc)


async def _lookup(shared: Run, plan: LookupPlan, walker: Walker | None = None) -> ImageFacts:
    """Try the endpoints in order; a docker.io mirror that does not answer OK falls back to the Hub.
    With ``walker`` (``--deep``), the endpoint that answered is asked about every blob too.

    A mirror's definite answer (tag, digest or repository missing) is kept: when the Hub then cannot
    be asked (unreachable, failing, rate limited), that answer is the result, marked ``unconfirmed``;
    when the Hub answers, its answer stands, as in Docker's own fallback."""
    ref: ImageRef = plan.lookup.ref
    notes: list[str] = []
    result: ImageFacts | None = None
    mirrored: ImageFacts | None = None  # the first mirror's definite "missing"
    for i, endpoint in enumerate(plan.endpoints):
        last = i == len(plan.endpoints) - 1
        host = netloc(base_url(endpoint))
        cred = plan.creds.get(endpoint.credential_domain)
        result = await probe_with_fallback(shared, endpoint, ref, plan.lookup.platforms, cred)
        if walker is not None:
            result = await walker.walk(endpoint, ref, plan.lookup.platforms, cred, result)
        if last or result.status in _FALLBACK_STATUSES:
            break
        if endpoint.mirror:
            if result.status in _DEFINITE and mirrored is None:
                mirrored = result
            if result.status.unreachable or result.status in (Status.REGISTRY_ERROR, Status.RATE_LIMITED):
                notes.append(f"mirror {host} failed ({result.detail}); fell back to the next endpoint")
                log.debug(
                    "%s: mirror %s failed (%s); trying the next endpoint",
                    ref.canonical,
                    host,
                    result.status.value,
                )
            continue
        if not result.status.unreachable:
            break  # a real answer from a non-mirror endpoint: no fallback (e.g. insecure https then http)
        log.debug("%s: %s unreachable (%s); trying the next endpoint", ref.canonical, host, result.status.value)
    assert result is not None
    if mirrored is not None and not result.status.answered:
        log.debug(
            "%s: %s could not be asked (%s); the mirror's answer stands",
            ref.canonical,
            result.host,
            result.status.value,
        )
        result = replace(
            mirrored,
            unconfirmed=f"the docker.io mirror {mirrored.host} answered; {result.host} could not confirm it: "
            f"{result.detail or result.status.value}",
        )
    log.debug("%s: %s (%s)", ref.canonical, result.status.value, result.host)
    return replace(result, notes=tuple(dict.fromkeys((*notes, *result.notes)))) if notes else result
