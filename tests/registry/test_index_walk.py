"""Indexes inside indexes, against the real registry: walked to the platforms at the bottom, bounded.

Distribution 2.8 stores an OCI index whose entries are indexes (it checks that each entry exists in
the repository). preflight walks such nesting up to ``lookup.MAX_INDEX_DEPTH`` levels below the
top index and says so in a note when a registry nests deeper.
"""

from __future__ import annotations

from pathlib import Path

from preflight.config import Config
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings, resolve
from preflight.registry.lookup import MAX_INDEX_DEPTH

from .images import OCI_INDEX, Manifest, Pusher, build, canonical_json


def wrap(inner: Manifest) -> Manifest:
    """An OCI index with one entry: ``inner`` (an index)."""
    entry = {"mediaType": inner.media_type, "digest": inner.digest, "size": inner.size}
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
    return Manifest(OCI_INDEX, canonical_json(document), None, (), (inner,))


def nested(levels: int, seed: str) -> tuple[Manifest, Manifest]:
    """(top index, the two-platform index at the bottom) with ``levels`` indexes wrapped around it."""
    bottom = build(seed, ("linux/amd64", "linux/arm64/v8"))
    top = bottom
    for _ in range(levels):
        top = wrap(top)
    return top, bottom


def look_up(registry, reference: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(
        Config(timeout=20, daemon_json=str(tmp_path / "absent.json")), {"HOME": str(tmp_path)}, use_cache=False
    )
    lookup = Lookup(ImageRef.parse(f"{registry.hostport}/{reference}"), frozenset({"linux/arm64"}))
    resolution = resolve([lookup], settings)
    return next(iter(resolution.facts.values())), resolution


def test_index_nested_three_levels_deep_gives_its_platforms(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    top, bottom = nested(3, scratch_repo)  # top index -> index -> index -> index -> two manifests
    with Pusher(registry.url) as pusher:
        pusher.push_manifest(scratch_repo, "deep", top)
    facts, resolution = look_up(registry, f"{scratch_repo}:deep", tmp_path)
    assert facts.status.value == "ok", facts.detail
    assert facts.digest == top.digest
    assert facts.platforms == ("linux/amd64", "linux/arm64")
    assert facts.children == tuple(child.digest for child in bottom.children)
    assert not facts.notes
    assert resolution.requests == 4  # the top index, then each nested index once


def test_nesting_past_the_bound_is_not_walked_and_says_so(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    top, _ = nested(MAX_INDEX_DEPTH + 1, scratch_repo)
    with Pusher(registry.url) as pusher:
        pusher.push_manifest(scratch_repo, "too-deep", top)
    facts, resolution = look_up(registry, f"{scratch_repo}:too-deep", tmp_path)
    assert facts.status.value == "ok" and facts.platforms == ()
    assert any(f"nested more than {MAX_INDEX_DEPTH} levels" in note for note in facts.notes)
    assert resolution.requests == 1 + MAX_INDEX_DEPTH
