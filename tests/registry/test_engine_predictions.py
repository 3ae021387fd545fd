"""Does preflight predict the build? The real ``docker build`` (classic builder, a real dockerd)
or ``docker-compose up --no-start`` (Compose 1.29, Debian's ``docker-compose``: it pulls what the
engine lacks and builds the ``build:`` services, as ``up`` does, without starting anything) and
``preflight check`` run on the same directory with the same environment, scenario by scenario.

Verdicts: ``fails`` (an error or warning from PF0xx/PF2xx), ``local-only`` (PF210 alone: builds
here, fails on a clean machine) or ``builds``. A build that fails here must be ``fails``; one that
succeeds must be ``builds`` or ``local-only``; ``local-only`` is checked against a second build after
the local copy is removed (the clean machine), which must fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .dockerd import Dockerd
from .images import push_image
from .servers import BasicRegistry, OpenRegistry

RESULTS: list[tuple[str, str, str, str]] = []  # (scenario, build here, clean machine, preflight) for the table


COMPOSE_HINT = "apt-get install -y docker-compose"


@dataclass(frozen=True)
class Scenario:
    name: str
    dockerfile: str  # {REG} open registry, {PRIV} basic-auth registry, {DOWN} a closed port; "": none
    expected: str  # "fails" | "builds" | "local-only"
    build_args: dict[str, str] = field(default_factory=dict)
    login: bool = False  # docker login to {PRIV} into the scenario's DOCKER_CONFIG first
    local: tuple[str, ...] = ()  # names imported into the engine first (built here, never pushed)
    stricter: str = ""  # why preflight's "fails" is deliberately stricter than this build's success
    compose: str = ""  # a docker-compose.yml: the outcome is `docker-compose up --no-start`'s
    files: dict[str, str] = field(default_factory=dict)  # more files (.env, a build context's Dockerfile)


SCENARIOS = [
    Scenario("tag typo", "FROM {REG}/predict/app:1.00\n", "fails"),
    Scenario("missing repository", "FROM {REG}/predict/apq:1.0\n", "fails"),
    Scenario("missing digest", "FROM {REG}/predict/app@sha256:" + "0" * 64 + "\n", "fails"),
    Scenario("existing tag", "FROM {REG}/predict/app:1.0\n", "builds"),
    Scenario("existing digest", "FROM {REG}/predict/app@{DIGEST}\n", "builds"),
    Scenario("private, no credentials", "FROM {PRIV}/predict/private-a:1.0\n", "fails"),
    Scenario("private, docker login", "FROM {PRIV}/predict/private-b:1.0\n", "builds", login=True),
    Scenario("closed registry, no local copy", "FROM {DOWN}/predict/app:1.0\n", "fails"),
    Scenario(
        "closed registry, local copy",
        "FROM {DOWN}/predict/cached:1.0\n",
        "builds",
        local=("{DOWN}/predict/cached:1.0",),
    ),
    Scenario(
        "image only local", "FROM {REG}/predict/only-here:1.0\n", "local-only", local=("{REG}/predict/only-here:1.0",)
    ),
    Scenario("ARG default typo", "ARG TAG=1.00\nFROM {REG}/predict/app:${TAG}\n", "fails"),
    Scenario("ARG typo, --build-arg fix", "ARG TAG=1.00\nFROM {REG}/predict/app:${TAG}\n", "builds", {"TAG": "1.0"}),
    Scenario(
        "COPY --from missing image",
        "FROM {REG}/predict/app:1.0\nCOPY --from={REG}/predict/tools:9.9 /etc/preflight-fixture /x\n",
        "fails",
    ),
    Scenario(
        "COPY --from image",
        "FROM {REG}/predict/app:1.0\nCOPY --from={REG}/predict/tools:2.0 /etc/preflight-fixture /x\n",
        "builds",
    ),
    Scenario("missing platform (index)", "FROM --platform=linux/arm64 {REG}/predict/multi:1.0\n", "fails"),
    Scenario(
        "other platform (single manifest)",
        "FROM --platform=linux/arm64 {REG}/predict/amd64-only:1.0\n",
        "fails",
        stricter="the classic builder takes a single-platform image of another platform without complaint; "
        "the first RUN fails with 'exec format error' (BuildKit refuses it)",
    ),
    Scenario(
        "multi-stage",
        "FROM {REG}/predict/app:1.0 AS build\nCOPY Dockerfile /src/\nFROM {REG}/predict/tools:2.0\nCOPY --from=build /src/Dockerfile /x\n",
        "builds",
    ),
    Scenario(
        "multi-stage, second stage typo",
        "FROM {REG}/predict/app:1.0 AS build\nCOPY Dockerfile /src/\nFROM {REG}/predict/tool:2.0\nCOPY --from=build /src/Dockerfile /x\n",
        "fails",
    ),
]

_CMD = "    command: ['true']\n"  # an imported image has no CMD: creating its container needs one
_APP = "services:\n  app:\n    image: {REG}/predict/app:"
COMPOSE_SCENARIOS = [
    Scenario("compose: image typo", "", "fails", compose=_APP + "1.00\n"),
    Scenario("compose: existing image", "", "builds", compose=_APP + "1.0\n"),
    Scenario(
        "compose: build, FROM missing",
        "FROM {REG}/predict/apq:1.0\n",
        "fails",
        compose="services:\n  app:\n    build: .\n",
    ),
    Scenario(
        "compose: build args fix the default",
        "ARG TAG=1.00\nFROM {REG}/predict/app:${TAG}\n",
        "builds",
        compose="services:\n  app:\n    build:\n      context: .\n      args:\n        TAG: '1.0'\n",
    ),
    Scenario(
        "compose: build args typo",
        "ARG TAG=1.0\nFROM {REG}/predict/app:${TAG}\n",
        "fails",
        compose="services:\n  app:\n    build:\n      context: .\n      args:\n        TAG: '1.00'\n",
    ),
    Scenario(
        "compose: build in a subdirectory",
        "",
        "builds",
        compose="services:\n  app:\n    build: ./app\n",
        files={"app/Dockerfile": "FROM {REG}/predict/tools:2.0\n"},
    ),
    Scenario(
        "compose: service image only local",
        "",
        "local-only",
        compose="services:\n  app:\n    image: {REG}/predict/compose-only:1.0\n" + _CMD,
        local=("{REG}/predict/compose-only:1.0",),
    ),
    Scenario(
        "compose: closed registry, local copy",
        "",
        "builds",
        compose="services:\n  app:\n    image: {DOWN}/predict/compose-cached:1.0\n" + _CMD,
        local=("{DOWN}/predict/compose-cached:1.0",),
    ),
    Scenario("compose: .env typo", "", "fails", compose=_APP + "${TAG}\n", files={".env": "TAG=1.00\n"}),
    Scenario("compose: .env", "", "builds", compose=_APP + "${TAG}\n", files={".env": "TAG=1.0\n"}),
    Scenario(
        "compose: .env default",
        "",
        "fails",
        compose=_APP + "${TAG:-1.00}\n",
    ),
]


@pytest.fixture(scope="module")
def closed_hostport() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(scope="module")
def world(registry: OpenRegistry, basic_registry: BasicRegistry, closed_hostport: str) -> dict[str, str]:
    digest = push_image(registry.url, "predict/app", "1.0")
    push_image(registry.url, "predict/tools", "2.0")
    push_image(registry.url, "predict/amd64-only", "1.0", platforms=("linux/amd64",))
    push_image(registry.url, "predict/multi", "1.0", platforms=("linux/amd64", "linux/s390x"))
    for repo in ("predict/private-a", "predict/private-b"):
        push_image(registry.url, repo, "1.0")  # the basic registry shares the open one's storage
    return {"REG": registry.hostport, "PRIV": basic_registry.hostport, "DOWN": closed_hostport, "DIGEST": digest}


def _fill(text: str, world: dict[str, str]) -> str:
    for key, value in world.items():
        text = text.replace("{" + key + "}", value)
    return text


def preflight_verdict(directory: Path, env: dict[str, str], build_args: dict[str, str]) -> tuple[str, list[str]]:
    args = [f"--build-arg={k}={v}" for k, v in build_args.items()]
    result = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--format", "json", "--timeout", "10", "--no-cache", *args, "."],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    findings = json.loads(result.stdout)["findings"]
    shown = [f"{f['rule']} {f['level']}" for f in findings]
    failing = [f for f in findings if f["rule"][:3] in ("PF0", "PF2") and f["level"] in ("error", "warning")]
    if failing and all(f["rule"] == "PF210" for f in failing):
        return "local-only", shown
    return ("fails" if failing else "builds"), shown


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """Debian's ``docker-compose`` (Compose 1.29); missing: fail when ``CI`` is set, else skip."""
    found = shutil.which("docker-compose")
    if found is None:
        message = f"docker-compose is not installed; install it with: {COMPOSE_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def docker_build(engine: Dockerd, directory: Path, env: dict[str, str], build_args: dict[str, str]) -> bool:
    args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    return engine.run(["build", "-q", *args, str(directory)], env=env, check=False).returncode == 0


def compose_up(compose: str, directory: Path, env: dict[str, str], project: str) -> bool:
    """``docker-compose up --no-start``: pull what the engine lacks, build the builds, create the
    containers (started never); then remove the containers and network again."""

    def run(*args: str) -> int:
        command = [compose, "--no-ansi", "-p", project, *args]
        return subprocess.run(command, cwd=directory, env=env, capture_output=True, timeout=300).returncode

    try:
        return run("up", "--no-start") == 0
    finally:
        run("down")


def _project_name(tmp_path: Path) -> str:
    return "".join(c for c in tmp_path.name.lower() if c.isalnum())[-40:] or "predict"


def _scenario_dir(scenario: Scenario, world: dict[str, str], tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    files = dict(scenario.files)
    if scenario.dockerfile:
        files["Dockerfile"] = scenario.dockerfile
    if scenario.compose:
        files["docker-compose.yml"] = scenario.compose
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(_fill(text, world), encoding="utf-8")
    return directory


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_preflight_predicts_the_build(
    scenario: Scenario,
    docker_engine: Dockerd,
    world: dict[str, str],
    basic_registry: BasicRegistry,
    tmp_path: Path,
) -> None:
    _predict(
        scenario,
        docker_engine,
        world,
        basic_registry,
        tmp_path,
        lambda d, e: docker_build(docker_engine, d, e, scenario.build_args),
    )


@pytest.mark.parametrize("scenario", COMPOSE_SCENARIOS, ids=lambda s: s.name)
def test_preflight_predicts_compose_up(
    scenario: Scenario,
    docker_compose: str,
    docker_engine: Dockerd,
    world: dict[str, str],
    basic_registry: BasicRegistry,
    tmp_path: Path,
) -> None:
    project = _project_name(tmp_path)
    _predict(
        scenario, docker_engine, world, basic_registry, tmp_path, lambda d, e: compose_up(docker_compose, d, e, project)
    )


def _predict(
    scenario: Scenario,
    docker_engine: Dockerd,
    world: dict[str, str],
    basic_registry: BasicRegistry,
    tmp_path: Path,
    build: Callable[[Path, dict[str, str]], bool],
) -> None:
    directory = _scenario_dir(scenario, world, tmp_path)
    env = docker_engine.env(docker_config=tmp_path / "docker-config", HOME=str(tmp_path))
    (tmp_path / "docker-config" / "config.json").write_text("{}", encoding="utf-8")
    if scenario.login:
        docker_engine.run(
            ["login", "-u", basic_registry.username, "--password-stdin", basic_registry.hostport],
            env=env,
            stdin=basic_registry.password,
        )
    local = [_fill(name, world) for name in scenario.local]
    for name in local:
        docker_engine.import_image(name, content=scenario.name)

    verdict, shown = preflight_verdict(directory, env, scenario.build_args)
    built = build(directory, env)
    clean = "-"
    if local:  # the clean machine: the same build without the local copy
        docker_engine.run(["rmi", "-f", *local], env=env)
        clean = "builds" if build(directory, env) else "fails"
    RESULTS.append(
        (scenario.name, "builds" if built else "fails", clean, f"{verdict} ({', '.join(shown) or 'no findings'})")
    )

    assert verdict == scenario.expected, shown
    if verdict == "fails" and scenario.stricter:
        assert built, "the build now fails: drop the 'stricter' note"
    elif verdict == "fails":
        assert not built, f"preflight predicted a failure, the build succeeded: {shown}"
    else:
        assert built, f"preflight predicted success, the build failed: {shown}"
    if verdict == "local-only":
        assert clean == "fails", "PF210 said a clean machine fails, but the build without the local copy worked"


def test_print_prediction_table() -> None:
    """Not an assertion: the table for the README and the report (run with -s to see it, or
    ``python bench/prediction_table.py``, which reads it from ``$PREFLIGHT_PREDICTION_TABLE``)."""
    if not RESULTS:
        pytest.skip("no prediction scenario ran in this session")
    width = max(len(r[0]) for r in RESULTS)
    lines = [f"{'scenario':<{width}}  build here  clean machine  preflight"]
    lines += [f"{a:<{width}}  {b:<10}  {c:<13}  {d}" for a, b, c, d in RESULTS]
    stricter = [s for s in SCENARIOS + COMPOSE_SCENARIOS if s.stricter and s.name in {r[0] for r in RESULTS}]
    lines += [f"* {s.name}: preflight is deliberately stricter: {s.stricter}" for s in stricter]
    print("\n" + "\n".join(lines))
    destination = os.environ.get("PREFLIGHT_PREDICTION_TABLE")
    if destination:
        Path(destination).write_text("\n".join(lines) + "\n", encoding="utf-8")
