"""A docker.io mirror's "missing" against Docker Hub's answer, replayed with respx (the real-registry
version is tests/registry/test_mirror_evidence.py): Hub rate limited or failing cannot confirm, so the
mirror's answer is reported as unconfirmed; Hub answering decides."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import respx

from preflight.config import Config, RegistryConfig
from preflight.facts import ImageFacts, Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings
from preflight.registry.batch import run
from preflight.registry.transport import Limits

MIRROR = "https://mirror.example.com"
HUB = "https://registry-1.docker.io"
TAG = "/v2/library/python/manifests/3.12-slimm"
DIGEST = "sha256:" + "ab" * 32


def _lookup(tmp_path: Path, hub: httpx.Response) -> ImageFacts:
    config = Config(
        timeout=10.0,
        daemon_json=str(tmp_path / "absent.json"),
        registries={"docker.io": RegistryConfig(mirrors=(MIRROR,))},
    )
    settings = Settings(config, {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "d")}, use_cache=False)
    with respx.mock(assert_all_called=True) as router:
        router.head(MIRROR + TAG).respond(404)
        router.get(MIRROR + "/v2/library/python/tags/list").respond(200, json={"tags": ["3.12-slim", "3.12"]})
        hub_route = router.head(HUB + TAG).mock(return_value=hub)
        lookup = Lookup(ImageRef.parse("python:3.12-slimm"))
        res = asyncio.run(run([lookup], settings, limits=Limits(backoff=0.01), resolver=lambda _h: ["93.184.216.34"]))
        assert hub_route.called  # Docker Hub is always asked after a mirror's "missing"
    (facts,) = res.facts.values()
    return facts


def test_rate_limited_hub_cannot_confirm_the_mirrors_answer(tmp_path: Path) -> None:
    facts = _lookup(tmp_path, httpx.Response(429, headers={"ratelimit-limit": "100;w=21600"}))
    assert facts.status is Status.TAG_MISSING and facts.suggestions[0] == "3.12-slim"
    assert facts.host == "mirror.example.com"
    assert facts.unconfirmed.startswith(
        "the docker.io mirror mirror.example.com answered; registry-1.docker.io could not confirm it: HTTP 429"
    )


def test_an_answering_hub_decides(tmp_path: Path) -> None:
    found = httpx.Response(
        200, headers={"content-type": "application/vnd.oci.image.index.v1+json", "docker-content-digest": DIGEST}
    )
    facts = _lookup(tmp_path, found)
    assert facts.status is Status.OK and facts.host == "registry-1.docker.io" and not facts.unconfirmed
