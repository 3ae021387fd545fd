"""``fetch.Repo``'s primitives against the real registry: what a lookup and a deeper walk build on.

A manifest by digest (verified against the digest), a config blob (verified), a blob HEAD (status
and size), and a Failure from the outcome table when the answer is no.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from preflight.facts import Status
from preflight.registry.auth import AuthState
from preflight.registry.endpoints import Endpoint
from preflight.registry.fetch import Repo, Run
from preflight.registry.outcome import Failure

T = TypeVar("T")


def with_repo(registry, path: str, use: Callable[[Repo], Awaitable[T]]) -> T:  # type: ignore[no-untyped-def]
    async def go() -> T:
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
            endpoint = Endpoint(registry.url, registry.hostport, True, None, False, registry.hostport)
            return await use(Repo(Run(client, AuthState(), None), endpoint, path, None))

    return asyncio.run(go())


def test_manifest_blob_and_blob_head(registry) -> None:  # type: ignore[no-untyped-def]
    image = registry.manifests["myorg/app:1.0.0"]
    config, layer = image.blobs

    async def use(repo: Repo) -> tuple[bytes, bytes, httpx.Headers, int]:
        body = await repo.manifest(image.digest, image.digest)
        blob = await repo.blob(config.digest)
        head = await repo.head_blob(layer.digest)
        return body, blob, head.headers, head.status

    body, blob, headers, status = with_repo(registry, "myorg/app", use)
    assert body == image.data and blob == config.data
    assert status == 200 and int(headers["content-length"]) == layer.size


def test_manifest_whose_bytes_do_not_match_the_digest_is_refused(registry) -> None:  # type: ignore[no-untyped-def]
    image = registry.manifests["myorg/app:1.0.0"]
    other = "sha256:" + "1" * 64
    with pytest.raises(Failure) as failure:
        with_repo(registry, "myorg/app", lambda repo: repo.manifest("1.0.0", other))
    assert failure.value.status is Status.REGISTRY_ERROR
    assert failure.value.detail == f"{registry.hostport} sent a manifest whose sha256 does not match {other}"
    assert image.digest != other


def test_missing_blob_is_a_head_404_and_a_registry_error_on_get(registry) -> None:  # type: ignore[no-untyped-def]
    absent = "sha256:" + "2" * 64
    head = with_repo(registry, "myorg/app", lambda repo: repo.head_blob(absent))
    assert head.status == 404
    with pytest.raises(Failure) as failure:
        with_repo(registry, "myorg/app", lambda repo: repo.blob(absent))
    assert failure.value.status is Status.REGISTRY_ERROR and "answered HTTP 404" in failure.value.detail
