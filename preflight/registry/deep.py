"""``--deep``: walk each image's manifests, config and layers, and check every blob against what names it.

For a reference whose lookup ended OK (``client.probe``), and each platform it must provide:

* GET the manifest at the digest the lookup found and verify its bytes against that digest; for an
  index (nested up to two levels) pick the entry a pull takes for each required platform (the
  platform Docker pulls on this machine when none is required) and GET that image manifest, verified;
* GET the config blob, verified; its ``os``/``architecture``/``variant`` must be the index entry's;
* HEAD every layer blob: it exists, and its ``Content-Length`` is the size its descriptor names.
  Foreign / non-distributable layers (Windows base layers) are fetched from their own URLs by a
  pull, not from the registry: they are not asked about, and a note says so.

What is broken becomes ``facts.Damage`` (PF213 words it); each platform walked a
``facts.PlatformImage`` (layers, sizes and diff IDs: the download size, and PF214's disk sum).
A layer HEAD is asked once per run for a repository, endpoint and credential however many images
share the layer (``Walker.blobs``). What verified bytes say is content: immutable, so it is kept in
the facts cache by digest without a lifetime (``FactsCache.get_content``); a warm run with an
expired tag answer asks only the tag and the layer HEADs again.
"""

from __future__ import annotations

import asyncio
import json
import platform as host
from dataclasses import dataclass, field, replace
from typing import Any

from ..facts import Damage, ImageFacts, PlatformImage, Status
from ..imageref import ImageRef, is_digest
from ..platforms import normalize_platform, provides
from .cache import FactsCache
from .credentials import Credential
from .endpoints import Endpoint
from .fetch import BLOB_CAP, Repo, Run
from .manifest import INDEX_TYPES, index_entries, is_attestation, matches, platform_text
from .network import DeadlineExceeded, Unreachable
from .outcome import Failure, Request

MAX_LAYERS = 500  # layers checked per image manifest (Docker stacks at most 127)
MAX_DEPTH = 2  # index nesting followed, as the lookup does
_FOREIGN = ("foreign", "nondistributable")


def host_platform() -> str:
    """The platform ``docker pull`` takes on this machine when nothing asks for another one."""
    return normalize_platform(f"linux/{host.machine() or 'amd64'}")


@dataclass(frozen=True)
class _Head:
    status: int
    length: int | None


@dataclass
class Walker:
    """What the deep walks of one run share: the HEAD answers about blobs, the content cache."""

    run: Run
    cache: FactsCache | None = None
    default_platform: str = field(default_factory=host_platform)
    blobs: dict[tuple[str, str, str, str], asyncio.Future[_Head]] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)  # this run's verified content, by digest

    async def walk(
        self,
        endpoint: Endpoint,
        ref: ImageRef,
        platforms: frozenset[str],
        credential: Credential | None,
        facts: ImageFacts,
    ) -> ImageFacts:
        """``facts`` with ``deep`` and ``damage`` filled (unchanged unless the lookup ended OK)."""
        if facts.status is not Status.OK:
            return facts
        if not is_digest(facts.digest):
            return replace(facts, notes=(*facts.notes, f"--deep: {ref.familiar} has no digest to walk from"))
        repo = Repo(self.run, endpoint, ref.path, credential if facts.credential_source else None)
        walk = _Walk(self, repo, ref)
        problem = ""
        try:
            await walk.top(facts.digest, platforms or frozenset({self.default_platform}))
        except Failure as f:
            problem = f.detail
        except Unreachable as u:
            problem = u.diagnosis.message
        except DeadlineExceeded:
            problem = "the deadline passed first"
        notes = list(dict.fromkeys((*facts.notes, *walk.notes, *repo.notes)))
        if problem:
            notes.append(f"--deep: {ref.familiar} was not fully checked: {problem}")
        return replace(facts, deep=tuple(walk.images), damage=tuple(dict.fromkeys(walk.damage)), notes=tuple(notes))

    def remembered(self, digest: str, kind: str) -> dict[str, Any] | None:
        """A verified manifest's (``kind`` "manifest") or config's summary met before, in this run or an
        earlier one; what the cache file holds is checked for shape first (a cache is a file)."""
        value = self.content.get(digest)
        if value is None and self.cache is not None:
            value = self.cache.get_content(digest)
            value = value if _VALID[kind](value) else None
        return value

    def remember(self, digest: str, value: Any) -> None:
        self.content[digest] = value
        if self.cache is not None and digest.startswith("sha256:"):
            self.cache.put_content(digest, value)


class _Walk:
    """One reference's walk: the images it found, the damage, the notes."""

    def __init__(self, walker: Walker, repo: Repo, ref: ImageRef) -> None:
        self.walker = walker
        self.repo = repo
        self.ref = ref
        self.images: list[PlatformImage] = []
        self.damage: list[Damage] = []
        self.notes: list[str] = []

    async def top(self, digest: str, wanted: frozenset[str]) -> None:
        manifest = await self.manifest(digest, "")
        if manifest is None:
            return
        if manifest.get("kind") == "image":
            await self.image(digest, "", manifest)
            return
        if manifest.get("kind") != "index":
            return  # schema1 or unknown: nothing to walk
        entries = await self.entries(manifest, 0)
        chosen: dict[str, str] = {}
        for want in sorted(wanted):
            match = _pick(entries, want)
            if match is not None:
                chosen.setdefault(match[0], match[1])
        await asyncio.gather(*(self.image(d, p, None) for d, p in chosen.items()))

    async def entries(self, index: dict[str, Any], depth: int) -> list[tuple[str, str]]:
        """(digest, platform) of the index's image entries, nested indexes flattened."""
        out: list[tuple[str, str]] = []
        for entry in index.get("entries") or ():
            digest, media, plat = entry.get("digest"), entry.get("media"), entry.get("platform")
            if not isinstance(digest, str):
                continue
            if media in INDEX_TYPES:
                if depth < MAX_DEPTH:
                    nested = await self.manifest(digest, "")
                    if nested is not None and nested.get("kind") == "index":
                        out += await self.entries(nested, depth + 1)
            elif isinstance(plat, str) and plat:
                out.append((digest, plat))
        return out

    async def manifest(self, digest: str, platform: str) -> dict[str, Any] | None:
        """The manifest's summary (``_summary``), verified; None (and damage) when it is broken."""
        known = self.walker.remembered(digest, "manifest")
        if known is not None:
            return known
        body = self.repo.run.manifests.get(digest)  # the lookup read it a moment ago (one pull less on the Hub)
        if body is None or not matches(body, digest):
            reply = await self.repo.get_manifest(digest)
            if reply.status == 404:
                self.damage.append(Damage(platform, "manifest", "missing", digest))
                return None
            if reply.status != 200:
                raise self.repo.failure(reply)
            if not matches(reply.body, digest):
                self.damage.append(Damage(platform, "manifest", "digest", digest))
                return None
            body = reply.body
        summary = _summary(body, "")
        self.walker.remember(digest, summary)
        return summary

    async def image(self, digest: str, platform: str, manifest: dict[str, Any] | None) -> None:
        if manifest is None:
            manifest = await self.manifest(digest, platform)
        if manifest is None or manifest.get("kind") != "image":
            return
        config = manifest.get("config") or {}
        found = await self.config(config.get("digest", ""), config.get("size", 0), platform)
        platform = platform or (found or {}).get("platform", "")
        layers = list(manifest.get("layers") or ())
        if len(layers) > MAX_LAYERS:
            self.notes.append(
                f"--deep: {self.ref.familiar} ({platform}) has {len(layers)} layers; the first {MAX_LAYERS} were checked"
            )
        foreign = [layer for layer in layers if any(word in layer.get("media", "") for word in _FOREIGN)]
        if foreign:
            self.notes.append(
                f"--deep: {len(foreign)} foreign layer(s) of {self.ref.familiar} ({platform}) not checked: "
                "a pull downloads them from their own URLs, not from the registry"
            )
        checked = [(n, layer) for n, layer in enumerate(layers[:MAX_LAYERS], 1) if layer not in foreign]
        await asyncio.gather(*(self.layer(layer, n, len(layers), platform) for n, layer in checked))
        self.images.append(
            PlatformImage(
                platform,
                digest,
                tuple(layer["digest"] for layer in layers),
                tuple(layer["size"] for layer in layers),
                tuple((found or {}).get("diff_ids", ())),
            )
        )

    async def config(self, digest: str, size: int, platform: str) -> dict[str, Any] | None:
        """The config's platform and diff IDs (verified); None (and damage) when it is broken."""
        if not is_digest(digest):
            return None
        known = self.walker.remembered(digest, "config")
        if known is None:
            reply = await self.repo.fetch(
                "GET", f"/v2/{self.repo.path}/blobs/{digest}", cap=BLOB_CAP, request=Request.BLOB
            )
            if reply.status == 404:
                self.damage.append(Damage(platform, "config", "missing", digest, size))
                return None
            if reply.status != 200:
                raise self.repo.failure(reply, Request.BLOB)
            if not matches(reply.body, digest):
                self.damage.append(Damage(platform, "config", "digest", digest, size))
                return None
            known = _config_summary(reply.body)
            self.walker.remember(digest, known)
        said = known.get("platform", "")
        if platform and said != normalize_platform(platform):
            self.damage.append(Damage(platform, "config", "platform", digest, size, actual=said or "no platform"))
        return known

    async def layer(self, layer: dict[str, Any], position: int, count: int, platform: str) -> None:
        digest, size = layer["digest"], layer["size"]
        head = await self.head(digest)
        if head.status == 404:
            self.damage.append(Damage(platform, "layer", "missing", digest, size, position, count))
        elif head.length is not None and head.length != size:
            self.damage.append(Damage(platform, "layer", "size", digest, size, position, count, str(head.length)))

    async def head(self, digest: str) -> _Head:
        """HEAD of a blob, asked once per run for this repository, endpoint and credential."""
        cred = self.repo.credential
        key = (str(self.repo.base), self.repo.path, digest, cred.identity if cred else "")
        pending = self.walker.blobs.get(key)
        if pending is None:
            pending = self.walker.blobs[key] = asyncio.ensure_future(self._head(digest))
        return await asyncio.shield(pending)

    async def _head(self, digest: str) -> _Head:
        reply = await self.repo.fetch("HEAD", f"/v2/{self.repo.path}/blobs/{digest}", request=Request.BLOB)
        if reply.status not in (200, 404):
            raise self.repo.failure(reply, Request.BLOB)
        length = reply.headers.get("content-length", "")
        return _Head(reply.status, int(length) if length.isdigit() else None)


def _pick(entries: list[tuple[str, str]], want: str) -> tuple[str, str] | None:
    """The entry a pull for ``want`` takes: the exact platform first, else the first compatible one."""
    exact = normalize_platform(want)
    for digest, plat in entries:
        if plat == exact:
            return digest, plat
    for digest, plat in entries:
        if provides((plat,), want):
            return digest, plat
    return None


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _descriptor(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    digest, size, media = item.get("digest"), item.get("size"), item.get("mediaType")
    if not is_digest(digest) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    return {"digest": digest, "size": size, "media": media if isinstance(media, str) else ""}


def _summary(body: bytes, media_type: str) -> dict[str, Any]:
    """What the walk needs of a manifest (JSON, for the content cache): an index's entries, or an
    image manifest's config and layer descriptors."""
    data = _json(body)
    media = data.get("mediaType") if isinstance(data.get("mediaType"), str) else media_type
    if media in INDEX_TYPES or (not media and "manifests" in data):
        entries = []
        for entry in index_entries(data):
            if not is_digest(entry.get("digest")) or is_attestation(entry):
                continue
            plat = entry.get("platform")
            text = platform_text(plat) if isinstance(plat, dict) else None
            entries.append({"digest": entry["digest"], "media": entry.get("mediaType") or "", "platform": text or ""})
        return {"kind": "index", "entries": entries}
    config = _descriptor(data.get("config"))
    layers = data.get("layers")
    if config is None or not isinstance(layers, list):
        return {"kind": "other"}
    found = [_descriptor(item) for item in layers]
    return {"kind": "image", "config": config, "layers": [d for d in found if d is not None]}


def _config_summary(body: bytes) -> dict[str, Any]:
    data = _json(body)
    rootfs = data.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    ids = [d for d in diff_ids if is_digest(d)] if isinstance(diff_ids, list) else []
    return {"platform": platform_text(data) or "", "diff_ids": ids}


def _valid_manifest(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kind = value.get("kind")
    if kind == "index":
        entries = value.get("entries")
        return isinstance(entries, list) and all(
            isinstance(e, dict)
            and is_digest(e.get("digest"))
            and isinstance(e.get("media"), str)
            and isinstance(e.get("platform"), str)
            for e in entries
        )
    if kind == "image":
        layers = value.get("layers")
        return (
            _descriptor(value.get("config")) == value.get("config")
            and isinstance(layers, list)
            and all(_descriptor(d) == d for d in layers)
        )
    return kind == "other"


def _valid_config(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("platform"), str):
        return False
    ids = value.get("diff_ids")
    return isinstance(ids, list) and all(is_digest(d) for d in ids)


_VALID = {"manifest": _valid_manifest, "config": _valid_config}
