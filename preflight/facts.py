"""Immutable facts the registry and engine steps learn about references; registry rules read only these.

This module has no network imports. An offline run never creates facts and does not import it: the
offline path names these types in annotations only (``TYPE_CHECKING``) and takes ``Status`` from
``preflight.status``, which this module re-exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .status import Status as Status


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image as ``--deep`` walked it: what a pull of it downloads.

    layers/sizes: the layer blob digests and the sizes their descriptors name, in manifest order
    (foreign layers included: a pull fetches them from their URLs); diff_ids: the config's
    ``rootfs.diff_ids`` (the engine stores layers by these), empty when the config was unusable.
    """

    platform: str  # os/arch[/variant], normalized
    manifest: str  # digest of the platform's image manifest
    layers: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    diff_ids: tuple[str, ...] = ()

    @property
    def download_size(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class Download:
    """``--deep``: what a pull of one image for one platform downloads (its layers' compressed sizes), as
    ``Report.downloads`` lists it: the sum of a ``PlatformImage``'s sizes."""

    image: str  # ImageRef.canonical
    platform: str  # os/arch[/variant]
    size: int  # bytes: the sum of the layer sizes the manifest names
    layers: int


@dataclass(frozen=True)
class Damage:
    """A blob ``--deep`` found broken: the registry does not serve what the manifests name.

    what:     "manifest", "config" or "layer";
    problem:  "missing" (404), "size" (Content-Length differs from the descriptor), "digest" (the bytes
              do not hash to the digest), "platform" (the config's platform is not its index entry's);
    position/count: the layer's place (1-based) and the manifest's number of layers (layers only);
    actual:   what the registry has instead: its size ("size"), the config's platform ("platform").
    """

    platform: str  # the index entry's (or the config's) os/arch[/variant]; "" when not known
    what: str
    problem: str
    digest: str
    size: int = 0
    position: int = 0
    count: int = 0
    actual: str = ""


@dataclass(frozen=True)
class ImageFacts:
    """What a registry said about one normalized reference (``ImageRef.canonical``).

    detail:       a safe human sentence (never a credential or a raw response body).
    host:         the registry host the facts are about (``registry-1.docker.io``, ``127.0.0.1:5000``).
    suggestions:  near-match tags (TAG_MISSING) or repositories (REPO_MISSING), best first.
    digest:       digest of what the tag (or digest) resolves to, with the index types accepted.
    tag_digest:   for ``tag@digest`` references: the digest the tag points to now.
    children:     digests of the platform manifests inside the index at ``digest``.
    tag_children: for ``tag@digest`` references whose tag now points to another index: the
                  digests of that index's platform manifests (a pinned child is no mismatch).
    platforms:    ``os/arch[/variant]`` the image provides; None when not fetched.
    notes:        extra safe remarks: mirror fallback, anonymous retry after rejected credentials.
    deep/damage:  what ``--deep`` found (``PlatformImage``, ``Damage``); the download size is a fact of it.
    unconfirmed:  set when the answer rests on a docker.io mirror alone (the upstream could not be
                  asked): which mirror answered and why the upstream could not confirm it.
    ratelimit_remaining: Docker Hub ``ratelimit-remaining`` when seen.
    retry_after:  seconds from ``Retry-After`` on 429/503, when sent.
    """

    reference: str
    status: Status
    host: str
    detail: str = ""
    suggestions: tuple[str, ...] = ()
    digest: str | None = None
    media_type: str | None = None
    tag_digest: str | None = None
    children: tuple[str, ...] = ()
    tag_children: tuple[str, ...] = ()
    platforms: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    unconfirmed: str = ""
    ratelimit_remaining: int | None = None
    retry_after: float | None = None
    credential_source: str | None = None  # where credentials came from ("~/.docker/config.json"), never the secret
    cached_age: float | None = None  # seconds since the registry said so, when answered from the facts cache
    deep: tuple[PlatformImage, ...] | None = None  # --deep: each platform walked; None when not walked
    damage: tuple[Damage, ...] = ()  # --deep: blobs the registry does not serve as the manifests name them


@dataclass(frozen=True)
class LocalImage:
    """An image the local engine holds under a reference (``/images/{name}/json``).

    reference:    the normalized reference it was asked for (``ImageRef.canonical``).
    platform:     ``os/arch[/variant]`` of the held image.
    repo_digests: ``name@sha256:…`` the engine knows the image by in registries; empty when it
                  was built, imported or loaded here and never pulled or pushed.
    """

    reference: str
    id: str
    platform: str
    repo_digests: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()  # RootFS layer diff IDs: a pull skips layers the engine has by these


@dataclass(frozen=True)
class EngineFacts:
    """What preflight learned from the local Docker-compatible engine before the rules run.

    endpoint:   where it was asked (``unix:///var/run/docker.sock``, ``tcp://…``), never credentials.
    source:     how it was chosen (``DOCKER_HOST``, ``--engine``, ``context "ci"``, ``default socket``).
    answered:   False when a configured engine did not answer (``detail`` says why).
    images:     the references the engine holds, keyed by ``ImageRef.canonical``.
    data_root:  the engine's ``DockerRootDir``; free_space: bytes free there, None when it cannot be
                known from here (``free_space_unknown`` says why: a remote engine, a VM).
    """

    endpoint: str
    source: str
    answered: bool
    detail: str = ""
    version: str | None = None
    api_version: str | None = None
    images: Mapping[str, LocalImage] = field(default_factory=dict)
    layers: tuple[str, ...] = ()  # with --deep: diff IDs of the layers of every other image it holds
    data_root: str | None = None
    free_space: int | None = None
    free_space_unknown: str = ""

    def holds(self, reference: str) -> LocalImage | None:
        return self.images.get(reference) if self.answered else None
