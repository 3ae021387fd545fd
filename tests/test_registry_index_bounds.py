"""A registry cannot make one reference cost unbounded requests through nested indexes.

The depth bound is tested against the real registry (tests/registry/test_index_walk.py); a wide
index of distinct nested indexes (content a hostile registry can generate on the fly) is replayed
with respx: at most ``MAX_NESTED_INDEXES`` are fetched, each once, and a note says the rest was
not read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import respx

from preflight.config import Config
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings
from preflight.registry.batch import run
from preflight.registry.lookup import MAX_NESTED_INDEXES
from preflight.registry.transport import Limits

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def index(entries: list[dict[str, object]]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


def test_wide_index_of_nested_indexes_is_bounded(tmp_path: Path) -> None:
    router = respx.Router(base_url="https://reg.example.com")
    entries: list[dict[str, object]] = []
    nested_routes = []
    for i in range(MAX_NESTED_INDEXES + 6):
        leaf = {"mediaType": OCI_MANIFEST, "digest": sha256(b"leaf %d" % i), "size": 1}
        body = index([{**leaf, "platform": {"os": "linux", "architecture": f"arch{i}"}}])
        route = router.get(f"/v2/o/app/manifests/{sha256(body)}").respond(
            200, headers={"content-type": OCI_INDEX}, content=body
        )
        nested_routes.append(route)
        entries.append({"mediaType": OCI_INDEX, "digest": sha256(body), "size": len(body)})
    entries.append(entries[0])  # the same nested index twice: fetched once
    top = index(entries)
    router.get("/v2/o/app/manifests/1").respond(
        200, headers={"content-type": OCI_INDEX, "docker-content-digest": sha256(top)}, content=top
    )
    settings = Settings(
        Config(timeout=10.0, daemon_json=str(tmp_path / "absent.json")), {"HOME": str(tmp_path)}, use_cache=False
    )
    resolution = asyncio.run(
        run(
            [Lookup(ImageRef.parse("reg.example.com/o/app:1"), frozenset({"linux/amd64"}))],
            settings,
            inner=lambda verify, proxy: httpx.MockTransport(router.handler),
            limits=Limits(backoff=0.01),
            resolver=lambda host: ["93.184.216.34"],
        )
    )
    facts = next(iter(resolution.facts.values()))
    assert facts.status is Status.OK, facts.detail
    assert facts.platforms == tuple(f"linux/arch{i}" for i in range(MAX_NESTED_INDEXES))
    assert [route.call_count for route in nested_routes] == [1] * MAX_NESTED_INDEXES + [0] * 6
    assert resolution.requests == 1 + MAX_NESTED_INDEXES
    assert any(f"more than {MAX_NESTED_INDEXES} nested indexes" in note for note in facts.notes)
