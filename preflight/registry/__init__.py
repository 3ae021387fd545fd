"""The registry step: the only code in preflight that talks to the network.

``resolve(lookups, settings)`` asks registries about every unique reference in one concurrent
batch and returns ``ImageFacts`` keyed by ``ImageRef.canonical``. Importing this package is
cheap: httpx and the client load only when ``resolve`` has something to ask a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..facts import ImageFacts
from ..imageref import ImageRef

if TYPE_CHECKING:
    from .endpoints import DaemonConfig


@dataclass(frozen=True)
class Lookup:
    ref: ImageRef
    platforms: frozenset[str] = frozenset()  # required os/arch[/variant]; empty = the index is not fetched


@dataclass(frozen=True)
class Settings:
    config: Config  # registries, daemon_json, cache TTLs, timeout (overall deadline, seconds)
    environ: Mapping[str, str]  # proxies, SSL_CERT_FILE, DOCKER_CONFIG, HOME, XDG_CACHE_HOME
    use_cache: bool = True
    use_credentials: bool = True
    strict_loopback: bool = False  # verify TLS on loopback too (Docker treats loopback as insecure)
    progress: Callable[[int, int, str], None] | None = None  # (done, total, slowest host)
    allow_hosts: tuple[str, ...] = ()  # exact host names the address guard lets through
    untrusted: bool = False  # pull-request input: no private/loopback hosts unless allow-listed
    daemon: DaemonConfig | None = None  # the engine's own registry settings (/info): replace daemon.json
    certs_dir: Path | None = Path("/etc/docker/certs.d")  # Docker's per-host CAs and client certificates


@dataclass(frozen=True)
class Resolution:
    facts: Mapping[str, ImageFacts]  # keyed by ImageRef.canonical
    requests: int  # HTTP requests a registry answered (retries, token requests and redirects included)
    cache_hits: int
    dockerhub_remaining: int | None  # lowest Docker Hub ratelimit-remaining seen
    warnings: tuple[str, ...]  # safe texts: credential helper missing, mirror fell back, ...


def resolve(lookups: Sequence[Lookup], settings: Settings) -> Resolution:
    """Look every reference up: plan (endpoints, credentials, the cache's answers), then one asyncio
    run for what the cache did not answer, then the ``Resolution``. The network code (httpx, asyncio)
    is imported only when there is something to ask."""
    if not lookups:
        return Resolution({}, 0, 0, None, ())
    from .plan import Timing, make_plan
    from .summary import Executed, summarize

    timing = Timing.start(settings)
    plan = make_plan(lookups, settings, timing)
    if not plan.todo:
        if plan.cache is not None:
            plan.cache.save()
        return summarize(plan, Executed({}, 0, None))
    import asyncio

    from .batch import execute

    return summarize(plan, asyncio.run(execute(plan, settings, timing)))


__all__ = ["Lookup", "Resolution", "Settings", "resolve"]
