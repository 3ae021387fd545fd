"""The local container engine (Docker, or Podman's Docker-compatible API): which images it
already holds and which registry settings its pulls use.

``survey(references, environ, choice, timeout)`` finds the engine the docker CLI would use
(``discover``), asks it (``client``) and returns immutable facts for the rules. Importing this
package is cheap: httpx loads only when an engine is found. An absent engine costs nothing and
says nothing; a configured one that does not answer is a finding (PF212).

(``preflight.engine`` is the *rule* engine; this package is about the container engine.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..facts import EngineFacts
from .discover import Target, Unusable, find_engine

if TYPE_CHECKING:
    from ..registry.endpoints import DaemonConfig
    from .answers import EngineInfo

log = logging.getLogger("preflight.localengine")
MAX_TIMEOUT = 5.0  # seconds: a local engine answers in milliseconds; a remote one gets this long


@dataclass(frozen=True)
class Survey:
    facts: EngineFacts | None  # None: no engine (absent, off) - the rules see nothing
    info: EngineInfo | None  # the engine's own registry settings, when it answered
    warnings: tuple[str, ...] = ()


def survey(
    references: Sequence[str],
    environ: Mapping[str, str],
    choice: str | None,
    timeout: float,
    *,
    all_layers: bool = False,
) -> Survey:
    """Ask the engine about ``references`` (``ImageRef.canonical`` strings); ``all_layers`` (``--deep``):
    also the layers of every image it holds (``EngineFacts.layers``, for PF214's sum)."""
    found = find_engine(environ, choice)
    if found is None:
        log.debug("no container engine configured or found: the local image store is not consulted")
        return Survey(None, None)
    if isinstance(found, Unusable):
        if not found.supported:
            return Survey(None, None, (f"engine {found.endpoint} ({found.source}): {found.reason}",))
        return Survey(EngineFacts(found.endpoint, found.source, answered=False, detail=found.reason), None)
    return _ask(found, references, min(timeout, MAX_TIMEOUT), all_layers)


def _ask(target: Target, references: Sequence[str], timeout: float, all_layers: bool = False) -> Survey:
    from .client import ask

    facts, info = ask(target, references, timeout, all_layers=all_layers)
    if not facts.answered and not target.configured:
        log.debug("%s at %s does not answer (%s): treated as no engine", target.source, facts.endpoint, facts.detail)
        return Survey(None, None)
    if info is not None:
        free, _total, why = free_space(facts.endpoint, info.root_dir)
        facts = replace(facts, data_root=info.root_dir, free_space=free, free_space_unknown=why)
    return Survey(facts, info)


def free_space(endpoint: str, root: str | None) -> tuple[int | None, int | None, str]:
    """(free bytes, total bytes, "") of the engine's data root, or (None, None, why not): only an
    engine on this machine's socket has a data root preflight can measure."""
    import os
    import shutil

    if not endpoint.startswith("unix://"):
        return None, None, "the engine runs on another machine"
    if not root or not os.path.isdir(root):
        return None, None, "the data root is not visible here (the engine runs in a VM or container)"
    try:
        usage = shutil.disk_usage(root)
    except OSError as exc:
        return None, None, exc.strerror or type(exc).__name__
    return usage.free, usage.total, ""


__all__ = ["Survey", "Target", "Unusable", "find_engine", "free_space", "survey"]


_DEFAULT_INSECURE = frozenset({"127.0.0.0/8", "::1/128"})  # Docker's built-in; preflight treats loopback so already


def registry_settings(survey: Survey) -> DaemonConfig | None:
    """The engine's mirrors and insecure registries as the registry step's ``DaemonConfig``
    (used instead of reading daemon.json), or None when the engine did not report them."""
    if survey.info is None or survey.facts is None:
        return None
    from ..registry.endpoints import DaemonConfig, parse_base_url

    mirrors = [base for base, _ in (parse_base_url(m) for m in survey.info.mirrors) if base is not None]
    insecure = [i.lower() for i in survey.info.insecure if i not in _DEFAULT_INSECURE and "://" not in i]
    source = f"the engine's /info ({survey.facts.endpoint})"
    return DaemonConfig(tuple(dict.fromkeys(mirrors)), tuple(dict.fromkeys(insecure)), source)
