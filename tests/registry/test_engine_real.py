"""preflight against a real Docker Engine (tests/registry/dockerd.py): what the engine holds, its
settings, ``images --missing-locally``, ``--engine off`` and ``--debug``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preflight.localengine import client, survey

from .dockerd import Dockerd
from .images import push_image
from .servers import OpenRegistry


def _preflight(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preflight", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_survey_sees_built_pulled_and_digest_references(docker_engine: Dockerd, registry: OpenRegistry) -> None:
    digest = push_image(registry.url, "engine/pulled", "1.0")
    pulled = f"{registry.hostport}/engine/pulled:1.0"
    docker_engine.run(["pull", pulled])
    built = f"{registry.hostport}/engine/built:1.0"
    docker_engine.import_image(built)
    by_digest = f"{registry.hostport}/engine/pulled@{digest}"
    absent = f"{registry.hostport}/engine/pulled:2.0"

    result = survey([pulled, built, by_digest, absent], docker_engine.env(), None, 5)
    facts = result.facts
    assert facts is not None and facts.answered and facts.source == "DOCKER_HOST"
    assert facts.version is not None and facts.version.startswith("Docker ")
    assert set(facts.images) == {pulled, built, by_digest}
    assert facts.images[built].repo_digests == () and facts.images[built].platform == "linux/amd64"
    assert facts.images[pulled].repo_digests == (f"{registry.hostport}/engine/pulled@{digest}",)
    assert result.info is not None and result.info.root_dir == str(docker_engine.root / "data")


def test_one_listing_and_one_inspect_per_reference_give_the_same_facts(
    docker_engine: Dockerd, registry: OpenRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ``LIST_FROM`` references on, the engine is asked with one filtered ``/images/json`` and
    an inspect per distinct image held: the same facts as one inspect per reference, for every way
    a reference names an image (Hub official and user images, implied ``latest``, digests, a tag
    with a digest, two names of one image)."""
    repo = f"{registry.hostport}/engine/listing"
    digest = push_image(registry.url, "engine/listing", "1.0")
    docker_engine.run(["pull", f"{repo}:1.0"])
    for name in ("pftest-official:1.0", "pforg/app:2", "pforg/latest-one"):
        docker_engine.import_image(name, content=name)
    docker_engine.run(["tag", "pforg/app:2", f"{registry.hostport}/engine/second-name:1"])
    held = [
        f"{repo}:1.0",
        f"{repo}@{digest}",
        f"{repo}:1.0@{digest}",
        "docker.io/library/pftest-official:1.0",
        "docker.io/pforg/app:2",
        "docker.io/pforg/latest-one:latest",
        f"{registry.hostport}/engine/second-name:1",
    ]
    absent = [
        f"{repo}:2.0",
        f"{repo}@sha256:{'0' * 64}",
        f"{repo}:1.0@sha256:{'0' * 64}",
        "docker.io/library/pftest-official:2.0",
        "docker.io/pftest-official/app:1.0",
        "docker.io/library/app:2",
    ]
    asked: list[str] = []
    real_get = client._get

    def counting_get(http: Any, path: str, cap: int, deadline: float) -> Any:
        asked.append(path.split("?")[0])
        return real_get(http, path, cap, deadline)

    monkeypatch.setattr(client, "_get", counting_get)
    found = {}
    for list_from in (10_000, 1):
        monkeypatch.setattr(client, "LIST_FROM", list_from)
        asked.clear()
        result = survey(held + absent, docker_engine.env(), None, 5)
        assert result.facts is not None and result.facts.answered and result.info is not None
        found[list_from] = (dict(result.facts.images), list(asked))
    by_inspect, by_listing = found[10_000][0], found[1][0]
    assert sorted(by_listing) == sorted(by_inspect) == sorted(held)
    assert by_listing == by_inspect
    listing_paths = found[1][1]
    assert sum(p.endswith("/images/json") for p in listing_paths) == 1
    assert len(listing_paths) == 2 + 1 + 4, listing_paths  # /_ping, /info, the listing, 4 distinct images


def test_images_missing_locally_lists_what_the_engine_lacks(
    docker_engine: Dockerd, registry: OpenRegistry, tmp_path: Path
) -> None:
    held = f"{registry.hostport}/engine/held:1.0"
    docker_engine.import_image(held)
    missing = f"{registry.hostport}/engine/not-held:1.0"
    (tmp_path / "Dockerfile").write_text(f"FROM {held}\nFROM {missing}\n")
    env = docker_engine.env(HOME=str(tmp_path))
    result = _preflight(["images", "--missing-locally", "."], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [missing]

    no_engine = _preflight(["images", "--missing-locally", "--engine", "off", "."], tmp_path, env)
    assert no_engine.returncode == 2 and "no container engine found" in no_engine.stderr
    down = {**env, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    stopped = _preflight(["images", "--missing-locally", "."], tmp_path, down)
    assert stopped.returncode == 2 and "does not answer" in stopped.stderr


def test_engine_off_and_debug(docker_engine: Dockerd, registry: OpenRegistry, tmp_path: Path) -> None:
    only_here = f"{registry.hostport}/engine/only-here:1.0"
    docker_engine.import_image(only_here)
    (tmp_path / "Dockerfile").write_text(f"FROM {only_here}\n")
    env = docker_engine.env(HOME=str(tmp_path))
    (tmp_path / "daemon.json").write_text('{"registry-mirrors": ["not a url"]}')

    with_engine = _preflight(["check", "--no-cache", "--debug", "."], tmp_path, env)
    assert "PF210" in with_engine.stdout and "PF202" not in with_engine.stdout
    assert "from the engine's /info" in with_engine.stderr and "not from daemon.json" in with_engine.stderr

    off = _preflight(["check", "--no-cache", "--engine", "off", "."], tmp_path, env)
    assert "PF202" in off.stdout and "PF210" not in off.stdout

    down = _preflight(["check", "--no-cache", "."], tmp_path, {**env, "DOCKER_HOST": f"unix://{tmp_path}/x.sock"})
    assert "PF212" in down.stdout and "PF202" in down.stdout


def test_bad_engine_option_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\n")
    result = _preflight(["check", "--engine", "engine.example:2375", "."], tmp_path, {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "--engine" in result.stderr


def test_the_engines_own_mirror_is_used_instead_of_daemon_json(registry: OpenRegistry, tmp_path: Path) -> None:
    """An engine started with a docker.io mirror (the test registry): preflight asks the mirror for
    a Docker Hub image, as the engine's pull would, although no daemon.json says so; with the
    engine off, Docker Hub itself is asked (and unreachable from here, or at least not the mirror)."""
    from .dockerd import start_dockerd

    engine = start_dockerd({"registry-mirrors": [registry.url]})
    try:
        (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\n")
        env = engine.env(HOME=str(tmp_path))
        found = _preflight(["check", "--no-cache", "--format", "json", "--debug", "--timeout", "5", "."], tmp_path, env)
        assert found.returncode == 0, found.stdout + found.stderr
        assert f"mirrors: {registry.url}" in found.stderr and "not from daemon.json" in found.stderr
        assert f"HEAD {registry.url}/v2/library/python/manifests/3.12-slim" in found.stderr
        off = _preflight(["check", "--no-cache", "--debug", "--timeout", "5", "--engine", "off", "."], tmp_path, env)
        assert registry.url not in off.stderr
    finally:
        engine.stop()
