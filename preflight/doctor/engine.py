"""``preflight doctor``'s engine steps, from one survey of the local engine: its version and API, storage
and free space, registry settings (mirrors, insecure registries), its proxy against this shell's, and which
of the images it holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..localengine import Survey
from ..safetext import redact_url
from .steps import Section, Step, Timer


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
        Timer(section, "storage").ok(f"driver {info.driver or '?'}, data root {info.root_dir or '?'}; {free}")
        mirrors = ", ".join(info.mirrors) or "no mirrors"
        insecure = ", ".join(info.insecure) or "none"
        Timer(section, "registry settings").ok(f"{mirrors}; insecure registries: {insecure}")
        own = redact_url(environ.get("HTTPS_PROXY") or environ.get("https_proxy") or "")
        theirs = info.https_proxy
        if own != theirs:
            detail = (
                f"the engine pulls through {theirs or 'no proxy'}, this shell uses {own or 'no proxy'}: "
                "what preflight reaches is not what docker pull reaches"
            )
        else:
            detail = f"same HTTPS proxy as this shell ({own or 'none'})"
        Timer(section, "proxy").ok(detail)
    for ref in refs:
        image = facts.holds(ref)
        held = f"holds {ref} ({image.platform})" if image else f"does not hold {ref}: a build pulls it"
        Timer(section, "local image").ok(held)
    return section


def _free_space(endpoint: str, root: str | None) -> str:
    from ..localengine import free_space

    free, total, why = free_space(endpoint, root)
    if free is None or total is None:
        return f"free space unknown: {why}" if why else "free space unknown"
    return f"{free / (1 << 30):.1f} GiB free of {total / (1 << 30):.1f} GiB"
