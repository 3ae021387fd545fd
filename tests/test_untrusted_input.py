"""Nothing in the checked repository can make preflight run a program or read its credentials.

Credential helpers are code execution, so preflight takes them only from the user's own Docker
configuration: ``$DOCKER_CONFIG`` from the *environment*, else ``~/.docker/config.json``. Here a
repository carries ``.docker/config.json`` naming ``credsStore: evil``, a
``docker-credential-evil`` that touches a marker file, and every way a file could try to point
preflight at them (``.env``, compose ``environment:``, Dockerfile ``ARG``/``ENV``, build args in
``.preflight.yaml`` and on the command line). The helper is even on PATH, so only the config
choice stands between it and execution. Positive controls run the same helper from the user's
configuration and from ``DOCKER_CONFIG`` in the environment: the marker then appears.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class Scene:
    """A user (home, PATH with the helper) and a hostile repository."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.marker = tmp / "helper-ran"
        self.home = tmp / "home"
        self.userbin = tmp / "userbin"
        self.repo = tmp / "repo"
        self.registry = f"127.0.0.1:{port}"  # bound, never listening: lookups are refused quickly
        for directory in (self.home, self.userbin, self.repo / "bin", self.repo / ".docker"):
            directory.mkdir(parents=True)
        for where in (self.userbin, self.repo / "bin"):
            self.helper(where / "docker-credential-evil")
        evil = {"credsStore": "evil", "credHelpers": {self.registry: "evil"}}
        (self.repo / ".docker" / "config.json").write_text(json.dumps(evil))

    def helper(self, path: Path) -> None:
        path.write_text(f'#!/bin/sh\ntouch {self.marker}\nprintf \'{{"Username":"u","Secret":"s"}}\'\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.userbin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "NO_PROXY": "127.0.0.1",
            "PYTHONPATH": str(REPO),
            **extra,
        }

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "preflight",
            "check",
            ".",
            "--format",
            "json",
            "--no-cache",
            "--timeout",
            "5",
            *args,
        ]
        return subprocess.run(cmd, cwd=self.repo, env=self.env(**extra), capture_output=True, text=True, timeout=60)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield Scene(tmp_path, sock.getsockname()[1])


def hostile_files(scene: Scene) -> None:
    """Every file-level way to point at the repository's Docker config or helper."""
    r, docker = scene.registry, str(scene.repo / ".docker")
    files = {
        ".env": f"DOCKER_CONFIG={docker}\nPATH=./bin\nHOME=.\nREGISTRY_AUTH_FILE=.docker/config.json\n",
        "compose.yaml": (
            f"x-credsStore: evil\nservices:\n  app:\n    image: {r}/app:1\n"
            f"    environment:\n      DOCKER_CONFIG: {docker}\n"
        ),
        "Dockerfile": f"ARG DOCKER_CONFIG={docker}\nFROM {r}/base:${{TAG:-1}}\nENV DOCKER_CONFIG={docker}\n",
        ".preflight.yaml": json.dumps({"build-args": {"DOCKER_CONFIG": docker}}),
        "config.json": json.dumps({"credsStore": "evil"}),
    }
    for name, text in files.items():
        (scene.repo / name).write_text(text)


def test_repository_cannot_choose_a_credential_helper(scene: Scene) -> None:
    hostile_files(scene)
    done = scene.run("--debug", "--build-arg", f"DOCKER_CONFIG={scene.repo / '.docker'}")
    assert done.returncode == 1, done.stderr
    assert not scene.marker.exists()
    # the registry step ran and asked for credentials: none were found
    assert f"credentials for {scene.registry}: none" in done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert {f["rule"] for f in findings} == {"PF208"} and "refused" in findings[0]["message"]


@pytest.mark.parametrize("where", ["home", "environment"])
def test_the_users_own_configuration_does_run_the_helper(scene: Scene, where: str) -> None:
    """Positive control: the marker appears when the user's configuration names the helper."""
    hostile_files(scene)
    extra: dict[str, str] = {}
    if where == "home":
        (scene.home / ".docker").mkdir()
        (scene.home / ".docker" / "config.json").write_text(json.dumps({"credsStore": "evil"}))
    else:
        extra["DOCKER_CONFIG"] = str(scene.repo / ".docker")  # the user chose it, in the environment
    done = scene.run("--debug", **extra)
    assert scene.marker.exists(), done.stderr
    assert f"credentials for {scene.registry}: from credential helper 'evil'" in done.stderr


@pytest.mark.parametrize(
    "config, key",
    [
        ({"credsStore": "evil"}, "credsStore"),
        ({"cred-helpers": {"127.0.0.1:5000": "evil"}}, "cred-helpers"),
        ({"credential-helper": "evil"}, "credential-helper"),
        ({"docker-config": "./.docker"}, "docker-config"),
        ({"env": {"DOCKER_CONFIG": "./.docker"}}, "env"),
        ({"registries": {"127.0.0.1:5000": {"credential-helper": "evil"}}}, "credential-helper"),
        ({"registries": {"127.0.0.1:5000": {"auth": "dTpw"}}}, "auth"),
    ],
)
def test_project_configuration_cannot_name_a_helper(scene: Scene, config: dict[str, object], key: str) -> None:
    """``.preflight.yaml`` has no key for helpers or credentials: an unknown key is an error (exit 2)."""
    (scene.repo / "Dockerfile").write_text(f"FROM {scene.registry}/app:1\n")
    (scene.repo / ".preflight.yaml").write_text(json.dumps(config))
    done = scene.run()
    assert done.returncode == 2 and "unknown key" in done.stderr and repr(key) in done.stderr, done.stderr
    assert done.stdout == "" and not scene.marker.exists()


def test_pyproject_table_cannot_name_a_helper(scene: Scene) -> None:
    (scene.repo / "Dockerfile").write_text(f"FROM {scene.registry}/app:1\n")
    (scene.repo / "pyproject.toml").write_text('[tool.preflight]\ncredsStore = "evil"\n')
    done = scene.run()
    assert done.returncode == 2 and "'credsStore'" in done.stderr and not scene.marker.exists()


def test_git_configuration_of_the_checked_tree_runs_nothing(scene: Scene) -> None:
    """A checked directory may carry its own ``.git`` (an unpacked archive, a CI artifact): git's
    ``core.fsmonitor`` there is a command, and listing files must not run it."""
    (scene.repo / "Dockerfile").write_text("FROM alpine:3.20\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (
        ["init", "-q", "."],
        ["add", "Dockerfile"],
        ["commit", "-qm", "x"],
        ["config", "core.fsmonitor", str(scene.userbin / "docker-credential-evil")],
    ):
        subprocess.run([*git, *args], cwd=scene.repo, check=True, capture_output=True)
    done = scene.run("--offline")
    assert done.returncode in (0, 1), done.stderr
    assert not scene.marker.exists()
