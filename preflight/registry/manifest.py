"""Manifests as data (pure): media types, digests by their own algorithm, index entries, platforms.

A digest names its algorithm (``sha256:``, ``sha384:``, ``sha512:``); content is verified with
that algorithm. Content whose digest preflight computes itself (no ``Docker-Content-Digest``) gets
the canonical sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..imageref import is_digest
from ..platforms import normalize_platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
ALGORITHMS = frozenset({"sha256", "sha384", "sha512"})  # the ones imageref.is_digest accepts
_PLATFORM_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    """``algorithm:hex`` of ``body`` (sha256, sha384 or sha512)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:" + hashlib.new(algorithm, body).hexdigest()


def matches(body: bytes, digest: str) -> bool:
    """Whether ``body`` hashes to ``digest`` with the digest's own algorithm."""
    algorithm = digest.split(":", 1)[0]
    return algorithm in ALGORITHMS and digest_of(body, algorithm) == digest


def as_json(body: bytes) -> Any:
    """The parsed body, or None when it is not JSON (or nested too deep to parse)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None


def index_entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    entries = data.get("manifests")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def child_digests(data: dict[str, Any]) -> tuple[str, ...]:
    return tuple(e["digest"] for e in index_entries(data) if is_digest(e.get("digest")))


def is_index(media_type: str, data: dict[str, Any]) -> bool:
    return media_type in INDEX_TYPES or (not media_type and "manifests" in data)


def is_attestation(entry: dict[str, Any]) -> bool:
    ann = entry.get("annotations")
    if isinstance(ann, dict) and ann.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    plat = entry.get("platform")
    return isinstance(plat, dict) and plat.get("os") == "unknown" and plat.get("architecture") == "unknown"


def platform_text(data: dict[str, Any]) -> str | None:
    """``os/arch[/variant]`` (normalized) of an index entry's ``platform`` or a config; None if not one."""
    os_name, arch = data.get("os"), data.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = data.get("variant")
    variant = variant if isinstance(variant, str) else ""
    if not all(_PLATFORM_PART.fullmatch(part) for part in (os_name, arch, variant or "x")):
        return None  # not a platform name: never shown
    text = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    return normalize_platform(text)


def schema1_platforms(data: dict[str, Any]) -> tuple[str, ...]:
    arch = data.get("architecture")
    return (normalize_platform(f"linux/{arch}"),) if isinstance(arch, str) and arch else ()
