"""Local engine rules (PF210-PF212): what the local container engine holds beside what registries said.

Pure functions of ``subject.facts`` and ``ctx.engine`` (the engine's survey, filled before the rules run):
an image only the engine holds (PF210), a registry that could not be asked while the engine holds the
image (PF211), an engine that does not answer (PF212).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..imageref import ImageRef
from ..model import Level, clip
from ..rulebook import Hit, RuleContext, Subject, rule
from ..status import Status
from .registry import _ERRORS, TAGS, _facts, _held, _image

if TYPE_CHECKING:
    from ..facts import LocalImage

_REFUSED = {
    Status.TAG_MISSING: "has no such tag",
    Status.REPO_MISSING: "has no such repository",
    Status.DIGEST_MISSING: "has no such digest",
    Status.REPO_MISSING_OR_PRIVATE: "does not have it, or it is private",
    Status.AUTH_REQUIRED: "needs credentials to pull it",
    Status.AUTH_FAILED: "refuses the configured credentials",
}


def _origin(ref: ImageRef, image: LocalImage) -> str:
    """How the local copy probably got there, from the registry digests the engine knows it by."""
    if not image.repo_digests:
        return "it has no registry digest: it was built, imported or loaded on this machine"
    names = [d.split("@", 1)[0] for d in image.repo_digests]
    others = [n for n in names if n not in (ref.name, ref.familiar_name)]
    if others and len(others) == len(names):
        return f"it was pulled from or pushed to {clip(others[0])}, not this registry"
    return "it was pulled from this repository earlier and has since been removed there, or pushed only elsewhere"


@rule(
    "PF210",
    "image-only-local",
    "The local engine holds an image the registry does not serve: it builds here and fails on a clean machine.",
    Level.WARNING,
    needs_registry=True,
    tags=TAGS,
)
def image_only_local(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _facts(subject)
    image = _held(subject, ctx)
    if found is None or image is None or found[1].status not in _REFUSED:
        return
    ref, facts = found
    assert ctx.engine is not None
    yield Hit(
        f"{ref.familiar} exists only in the local engine{_image(subject)}: the registry {facts.host} "
        f"{_REFUSED[facts.status]}, but the engine at {ctx.engine.endpoint} holds it ({image.platform or 'unknown platform'}); "
        f"{_origin(ref, image)}. The build works here and fails on any clean machine (CI, a colleague's laptop): "
        "push the image to the registry, or build it in the same pipeline"
    )


@rule(
    "PF211",
    "registry-down-local-copy",
    "The registry could not be asked, but the local engine holds the image: the build uses that copy.",
    Level.NOTE,
    needs_registry=True,
    tags=TAGS,
)
def registry_down_local_copy(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _facts(subject)
    image = _held(subject, ctx)
    if found is None or image is None:
        return
    ref, facts = found
    if not facts.status.unreachable and facts.status not in _ERRORS:
        return
    assert ctx.engine is not None
    yield Hit(
        f"registry {facts.host} could not be asked about {ref.familiar}{_image(subject)} ({facts.detail}); "
        f"the engine at {ctx.engine.endpoint} holds it ({image.platform or 'unknown platform'}), so docker build "
        "uses the local copy unless it is run with --pull"
    )


@rule(
    "PF212",
    "engine-unreachable",
    "The configured container engine does not answer: builds on this machine fail.",
    Level.WARNING,
    needs_registry=True,
    tags=TAGS,
)
def engine_unreachable(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    engine = ctx.engine
    if engine is None or engine.answered or not subject.use.pull or subject.ref is None:
        return
    yield Hit(
        f"the container engine {engine.endpoint} ({engine.source}) does not answer: {engine.detail}; "
        "docker build on this machine fails until it does (check with docker version)",
        group="engine",
    )
