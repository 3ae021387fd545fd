"""sha384 and sha512 digests are verified with their own algorithm (the OCI spec allows both).

Distribution 2.8 names content by sha256 only, so these registries are replayed with respx: a pinned
``@sha512:``/``@sha384:`` manifest, and config blobs named by sha512.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import pytest
import respx

from preflight.config import Config
from preflight.facts import ImageFacts, Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings
from preflight.registry.batch import run
from preflight.registry.transport import Limits

BASE = "https://reg.example.com"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(body: bytes, algorithm: str) -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, body).hexdigest()


def image(config_algorithm: str = "sha256") -> tuple[bytes, bytes]:
    """(manifest, config) of a linux/arm64 image whose config is named with ``config_algorithm``."""
    config = json.dumps({"os": "linux", "architecture": "arm64"}).encode()
    descriptor = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config)}
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**descriptor, "digest": digest(config, config_algorithm)},
            "layers": [],
        }
    ).encode()
    return manifest, config


def serve(router: respx.Router, reference: str, manifest: bytes, header_digest: str) -> None:
    headers = {"content-type": OCI_MANIFEST, "docker-content-digest": header_digest}
    router.head(f"/v2/o/app/manifests/{reference}").respond(200, headers=headers)
    router.get(f"/v2/o/app/manifests/{reference}").respond(200, headers=headers, content=manifest)


def look_up(router: respx.Router, reference: str, tmp_path: Path, platforms: tuple[str, ...] = ()) -> ImageFacts:
    settings = Settings(
        Config(timeout=5.0, daemon_json=str(tmp_path / "absent.json")), {"HOME": str(tmp_path)}, use_cache=False
    )
    lookup = Lookup(ImageRef.parse(f"reg.example.com/o/app{reference}"), frozenset(platforms))
    resolution = asyncio.run(
        run(
            [lookup],
            settings,
            inner=lambda verify, proxy: httpx.MockTransport(router.handler),
            limits=Limits(backoff=0.01),
            resolver=lambda host: ["93.184.216.34"],
        )
    )
    return next(iter(resolution.facts.values()))


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_pinned_manifest_is_verified_with_the_pins_algorithm(algorithm: str, tmp_path: Path) -> None:
    manifest, config = image()
    pin = digest(manifest, algorithm)
    router = respx.Router(base_url=BASE)
    serve(router, pin, manifest, pin)
    router.get(f"/v2/o/app/blobs/{digest(config, 'sha256')}").respond(200, content=config)
    facts = look_up(router, f"@{pin}", tmp_path, ("linux/arm64",))
    assert facts.status is Status.OK, facts.detail
    assert facts.digest == pin and facts.platforms == ("linux/arm64",)
    assert not facts.notes


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_pin_whose_head_names_the_sha256_is_confirmed_by_the_body(algorithm: str, tmp_path: Path) -> None:
    """The registry's header is the sha256 of the same content: the body decides, hashed like the pin."""
    manifest, _ = image()
    pin = digest(manifest, algorithm)
    router = respx.Router(base_url=BASE)
    serve(router, pin, manifest, digest(manifest, "sha256"))
    facts = look_up(router, f"@{pin}", tmp_path)
    assert facts.status is Status.OK, facts.detail
    assert facts.digest == pin


def test_pinned_sha512_with_other_content_is_a_registry_error(tmp_path: Path) -> None:
    manifest, _ = image()
    pin = digest(b"other content", "sha512")
    router = respx.Router(base_url=BASE)
    serve(router, pin, manifest, digest(manifest, "sha256"))
    facts = look_up(router, f"@{pin}", tmp_path)
    assert facts.status is Status.REGISTRY_ERROR
    assert facts.detail == f"reg.example.com sent a manifest whose sha512 does not match {pin}"


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_config_blob_named_by_sha512_is_verified_with_sha512(algorithm: str, tmp_path: Path) -> None:
    manifest, config = image(algorithm)
    router = respx.Router(base_url=BASE)
    serve(router, "1", manifest, digest(manifest, "sha256"))
    blob = router.get(f"/v2/o/app/blobs/{digest(config, algorithm)}").respond(200, content=config)
    facts = look_up(router, ":1", tmp_path, ("linux/arm64",))
    assert facts.status is Status.OK, facts.detail
    assert facts.platforms == ("linux/arm64",) and blob.call_count == 1


def test_config_blob_that_does_not_hash_to_its_sha512_is_a_registry_error(tmp_path: Path) -> None:
    manifest, config = image("sha512")
    router = respx.Router(base_url=BASE)
    serve(router, "1", manifest, digest(manifest, "sha256"))
    router.get(f"/v2/o/app/blobs/{digest(config, 'sha512')}").respond(200, content=config + b" ")
    facts = look_up(router, ":1", tmp_path, ("linux/arm64",))
    assert facts.status is Status.REGISTRY_ERROR and "config blob that does not match" in facts.detail


def test_sha512_docker_content_digest_matching_the_body_is_no_mismatch(tmp_path: Path) -> None:
    """A registry that names content by sha512: its header is right, no note, and the fact keeps it."""
    manifest, config = image()
    router = respx.Router(base_url=BASE)
    serve(router, "1", manifest, digest(manifest, "sha512"))
    router.get(f"/v2/o/app/blobs/{digest(config, 'sha256')}").respond(200, content=config)
    facts = look_up(router, ":1", tmp_path, ("linux/arm64",))
    assert facts.status is Status.OK and not facts.notes
    assert facts.digest == digest(manifest, "sha512")
