"""``preflight doctor``: the diagnosis a platform engineer does by hand when a pull fails, step by step.

For every registry endpoint the images use (mirrors first, as pulls try them): DNS -> TCP connect ->
TLS -> ``GET /v2/`` -> token -> one manifest ``HEAD``; then the local engine. Each step is timed and
passes or fails; the first failure of an endpoint names the cause (DNS, firewall/refused, proxy, TLS,
registry outage, rate limit, authentication, not found) and the next thing to try, and the endpoint's
later steps are not run. Nothing printed ever holds a credential or a token.

``steps``: what a diagnosis is made of; ``connect``: an endpoint up to TLS; ``api``: its HTTP steps;
``engine``: the local engine's steps; ``run`` (here): all of them for a list of images.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import Config
from ..imageref import ImageRef
from ..registry import endpoints as ep
from ..registry.credentials import CredentialStore
from .connect import diagnose_endpoint
from .engine import diagnose_engine
from .steps import Section


def run(
    refs: Sequence[ImageRef],
    config: Config,
    environ: Mapping[str, str],
    timeout: float,
    *,
    use_credentials: bool = True,
) -> list[Section]:
    from ..localengine import registry_settings, survey

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
