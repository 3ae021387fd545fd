"""What a docker.io mirror says is evidence (issue 13 part 3): with Docker Hub unreachable, the mirror's
definite answer (tag, digest or repository missing, with its tag list) is reported, saying that it came
from the mirror and that the upstream could not confirm it; when both answer, the upstream's answer
stands, as Docker's own fallback does.

The mirror is the real registry; the upstream is Docker Hub's name pinned to loopback (the run's DNS
table) and its base URL moved to a closed port: a bound socket that never listens, so every connection
is refused at once."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight.config import Config, RegistryConfig
from preflight.engine import RuleContext, Selection, evaluate
from preflight.facts import ImageFacts, Status
from preflight.imageref import ImageRef
from preflight.model import Document, ImageUse, Location, Summary, UseKind
from preflight.registry import Lookup, Resolution, Settings
from preflight.registry import endpoints as ep
from preflight.registry.batch import run
from preflight.resolve import resolve_documents

from .servers import OpenRegistry


@pytest.fixture
def closed_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Docker Hub's endpoint on a loopback port that refuses connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    monkeypatch.setattr(ep, "HUB_BASE_URL", f"http://{ep.HUB_HOST}:{port}")
    try:
        yield f"{ep.HUB_HOST}:{port}"
    finally:
        sock.close()


def _resolve(refs: list[str], mirror: str, tmp_path: Path, *, cache: bool = False) -> Resolution:
    docker = tmp_path / "docker"
    docker.mkdir(exist_ok=True)
    (docker / "config.json").write_text(json.dumps({}))
    config = Config(
        registries={"docker.io": RegistryConfig(mirrors=(mirror,))},
        timeout=10,
        daemon_json=str(tmp_path / "none.json"),
    )
    env = {
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(docker),
        "NO_PROXY": "127.0.0.1",
        "XDG_CACHE_HOME": str(tmp_path / "c"),
    }
    settings = Settings(config, env, use_cache=cache, allow_hosts=(ep.HUB_HOST,))
    lookups = [Lookup(ImageRef.parse(r)) for r in refs]
    return asyncio.run(run(lookups, settings, resolver=lambda host: ["127.0.0.1"]))


def _findings(res: Resolution, refs: list[str]) -> list[tuple[str, int, str]]:
    uses = tuple(
        ImageUse(UseKind.FROM, Location("Dockerfile", line, 6, line, 6 + len(r)), r, r)
        for line, r in enumerate(refs, start=1)
    )
    report = evaluate(
        resolve_documents([Document("Dockerfile", "dockerfile", uses)]),
        Selection(select=("PF2",)),
        RuleContext(facts=res.facts),
        Summary(),
    )
    return [(f.rule, f.location.line, f.message) for f in report.findings]


def test_the_mirrors_answer_is_reported_when_docker_hub_cannot_be_asked(
    registry: OpenRegistry, closed_hub: str, tmp_path: Path
) -> None:
    zero = "sha256:" + "0" * 64
    refs = ["python:3.12-slimm", "pyhton:3.12-slim", f"python@{zero}", "python:3.12-slim"]
    res = _resolve(refs, registry.url, tmp_path)
    found = _findings(res, refs)
    assert [(rule, line) for rule, line, _ in found] == [("PF201", 1), ("PF202", 2), ("PF205", 3)], found
    mirror = registry.hostport
    for _rule, _line, message in found:
        assert f"the docker.io mirror {mirror} answered; {closed_hub} could not confirm it" in message
        assert "refused" in message  # why the upstream could not be asked
    assert 'did you mean "3.12-slim"?' in found[0][2]  # the mirror's tag list
    assert 'did you mean "python:3.12-slim"?' in found[1][2]  # the mirror's catalog
    ok = res.facts["docker.io/library/python:3.12-slim"]
    assert ok.status is Status.OK and ok.host == mirror and not ok.unconfirmed  # a mirror's OK needs no upstream


def test_an_unconfirmed_answer_is_not_cached(registry: OpenRegistry, closed_hub: str, tmp_path: Path) -> None:
    from preflight.registry.cache import FactsCache

    res = _resolve(["python:3.12-slimm"], registry.url, tmp_path, cache=True)
    (facts,) = res.facts.values()
    assert facts.status is Status.TAG_MISSING and facts.unconfirmed
    assert FactsCache(tmp_path / "c", 3600, 300).lifetime(facts) == 0
    assert FactsCache(tmp_path / "c", 3600, 300).lifetime(ImageFacts("r", Status.TAG_MISSING, "h")) == 300
    again = _resolve(["python:3.12-slimm"], registry.url, tmp_path, cache=True)
    assert again.cache_hits == 0


def test_when_both_answer_the_upstream_stands(
    registry: OpenRegistry, registry_bin: str, registry_workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty mirror says the repository does not exist; Docker Hub (the populated registry under
    Hub's name) says the tag is missing, with its own tags: Hub's answer is the finding, without a word
    about the mirror."""
    from .servers import start_registry

    empty = start_registry(
        registry_bin, registry_workdir / "empty-mirror", tmp_path / "empty-root", name="empty-mirror"
    )
    try:
        monkeypatch.setattr(ep, "HUB_BASE_URL", f"http://{ep.HUB_HOST}:{registry.port}")
        refs = ["python:3.12-slimm", "python:3.12-slim"]
        res = _resolve(refs, empty.url, tmp_path)
    finally:
        empty.stop()
    found = _findings(res, refs)
    assert [(rule, line) for rule, line, _ in found] == [("PF201", 1)], found
    assert 'did you mean "3.12-slim"?' in found[0][2] and "mirror" not in found[0][2]
    facts = res.facts["docker.io/library/python:3.12-slimm"]
    assert facts.host == f"{ep.HUB_HOST}:{registry.port}" and not facts.unconfirmed
    assert res.facts["docker.io/library/python:3.12-slim"].status is Status.OK
