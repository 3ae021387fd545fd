"""Rules on what ``--deep`` walked (PF213, PF214): every blob of each image, and what a pull downloads.

Pure functions of ``ImageFacts.deep``/``damage`` (``preflight.registry.deep`` fills them) and the
local engine's facts (its layers and the free space of its data root): no network, no file system.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..model import Level
from ..platforms import provides
from ..rulebook import Hit, RuleContext, Subject, rule
from ..settings import Flag, Setting, Trust
from ..settings import size as parse_size
from ..status import Status
from .registry import TAGS, _image, _registry_facts

if TYPE_CHECKING:
    from ..facts import Damage

# ----------------------------------------------------------------- PF213: --deep


def size_text(size: int) -> str:
    """``28.4 MB``: decimal units, as registries and ``docker images`` print sizes."""
    if size < 1000:
        return f"{size} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if size < scale * 1000 or unit == "TB":
            return f"{size / scale:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def short_digest(digest: str) -> str:
    """``sha256:ab12cd34ef56…``: enough of a digest to find the blob."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}:{hexdigest[:12]}…" if len(hexdigest) > 12 else digest


_REPUSH = "re-push the tag"


def _damage_text(d: Damage) -> str:
    where = f" of {d.platform}" if d.platform else ""
    if d.what == "layer":
        blob = f"layer {short_digest(d.digest)} ({d.position} of {d.count}, {size_text(d.size)}){where}"
        if d.problem == "missing":
            return f"{blob} is missing from the registry: the image was pushed incompletely or garbage-collected; {_REPUSH}"
        return (
            f"{blob} is {size_text(int(d.actual))} in the registry, not the {d.size} bytes its manifest names: "
            f"the upload was cut short or the blob replaced; {_REPUSH}"
        )
    blob = f"{d.what} {short_digest(d.digest)}{where}"
    if d.problem == "missing":
        return f"{blob} is missing from the registry: the image was pushed incompletely or garbage-collected; {_REPUSH}"
    if d.problem == "digest":
        return f"{blob} does not match its digest: the registry's copy is corrupt; {_REPUSH}"
    return (
        f"the index entry for {d.platform} points at an image whose config ({short_digest(d.digest)}) says "
        f"{d.actual}: a pull for {d.platform} gets an image built for another platform; rebuild and push the index"
    )


@rule(
    "PF213",
    "image-blob-broken",
    "With --deep: a manifest, config or layer the image names is missing, corrupt or of the wrong size or platform.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def image_blob_broken(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or not found[1].damage:
        return
    ref, facts = found
    wanted = subject.platforms
    for damage in facts.damage:
        if wanted and damage.platform and not any(provides((damage.platform,), w) for w in wanted):
            continue  # another use of the same image needs that platform: reported there
        yield Hit(f"{ref.familiar}{_image(subject)}: {_damage_text(damage)}")


# ----------------------------------------------------------------- PF214: disk space for the pull


def pull_size(ctx: RuleContext) -> tuple[int, int] | None:
    """(compressed bytes, images) the engine downloads for the images it lacks: each layer once across
    all images, layers it already has (by diff ID, in any image it holds) not counted; None without an
    engine or --deep facts."""
    engine = ctx.engine
    if engine is None or not engine.answered:
        return None
    have = {*engine.layers, *(layer for image in engine.images.values() for layer in image.layers)}
    seen: set[str] = set()
    total = images = 0
    for key, facts in sorted(ctx.facts.items()):
        if engine.holds(key) is not None or facts.status is not Status.OK or not facts.deep:
            continue
        images += 1
        for walked in facts.deep:
            diff_ids = walked.diff_ids if len(walked.diff_ids) == len(walked.layers) else ("",) * len(walked.layers)
            for digest, size, diff_id in zip(walked.layers, walked.sizes, diff_ids, strict=False):
                if diff_id in have or digest in seen:
                    continue
                seen.add(digest)
                total += size
    return (total, images) if images else None


DISK_MARGIN: Setting[int] = Setting(
    "disk-margin",
    parse_size,
    Trust.PROJECT,
    "it only decides what is reported",
    Flag(
        "--disk-margin",
        "With --deep: free space a pull must leave on the engine's data root (PF214; default 2GiB).",
        metavar="SIZE",
    ),
    default=2 << 30,  # layers unpack to 2-3 times their compressed size, and the build writes its own (README)
)


@rule(
    "PF214",
    "pull-exceeds-disk",
    "With --deep: the layers the local engine must download do not fit on its data root, or leave less than the margin.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
    options=(DISK_MARGIN,),
)
def pull_exceeds_disk(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    engine = ctx.engine
    if found is None or not found[1].deep or engine is None or engine.free_space is None:
        return
    pulled = pull_size(ctx)
    if pulled is None:
        return
    size, images = pulled
    free, margin = engine.free_space, ctx.options[DISK_MARGIN]
    what = (
        f"the {images} image{'' if images == 1 else 's'} the engine at {engine.endpoint} does not hold "
        f"download{'s' if images == 1 else ''} {size_text(size)} of compressed layers"
    )
    where = f"its data root {engine.data_root or '?'} has {size_text(free)} free"
    if size > free:
        yield Hit(
            f"{what}, but {where}: the pull fails with 'no space left on device'; free space "
            "(docker system prune, docker builder prune) or pull fewer images on this machine",
            group="disk",
        )
    elif free - size < margin:
        yield Hit(
            f"{what}; {where}, which leaves {size_text(free - size)}, less than the margin of {size_text(margin)} "
            "(layers unpack to 2-3 times their compressed size, and the build writes its own): free space "
            "(docker system prune) or give the engine more disk",
            group="disk",
            level=Level.WARNING,
        )
