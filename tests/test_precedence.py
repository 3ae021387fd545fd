"""Which value wins, through the real CLI (issue 9): ``--build-arg`` over compose ``build.args`` over the
config's ``build-args``; ``--select`` over the configuration's selection as ruff resolves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import write

REPO = Path(__file__).resolve().parents[1]


def preflight(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd / ".home"),
        "XDG_CONFIG_HOME": str(cwd / ".home" / "config"),
        "XDG_CACHE_HOME": str(cwd / ".home" / "cache"),
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "preflight", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def references(cwd: Path, *args: str) -> dict[str, str]:
    done = preflight(cwd, "images", "--format", "json", *args, ".")
    assert done.returncode == 0, done.stderr
    return {f"{row['path']}:{row['line']}": row["reference"] for row in json.loads(done.stdout)["images"]}


def test_build_arg_on_the_command_line_wins_over_compose_build_args(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": "services:\n  app:\n    build:\n      context: app\n      args: {PYTHON_VERSION: '3.11'}\n",
        "app/Dockerfile": "ARG PYTHON_VERSION=3.8\nFROM python:${PYTHON_VERSION}-slim\n",
        "tool/Dockerfile": "ARG PYTHON_VERSION=3.8\nFROM python:${PYTHON_VERSION}-slim\n",
    })  # fmt: skip
    built, alone = "app/Dockerfile:2", "tool/Dockerfile:2"
    assert references(tmp_path)[built] == "docker.io/library/python:3.11-slim"
    # config build-args are defaults beneath compose's build.args (and a Dockerfile's own ARG default)
    write(tmp_path, {".preflight.yaml": "build-args: {PYTHON_VERSION: '3.9'}\n"})
    found = references(tmp_path)
    assert (found[built], found[alone]) == ("docker.io/library/python:3.11-slim", "docker.io/library/python:3.9-slim")
    # --build-arg wins over both, as `docker compose build --build-arg` does
    found = references(tmp_path, "--build-arg", "PYTHON_VERSION=3.10")
    assert (found[built], found[alone]) == ("docker.io/library/python:3.10-slim", "docker.io/library/python:3.10-slim")


def rules_found(cwd: Path, *args: str) -> list[tuple[str, int]]:
    done = preflight(cwd, "check", "--offline", "--format", "json", "--exit-zero", *args, ".")
    assert done.returncode == 0, done.stderr
    return sorted((f["rule"], f["line"]) for f in json.loads(done.stdout)["findings"])


def test_select_on_the_command_line_resets_the_configurations_selection(tmp_path: Path) -> None:
    write(tmp_path, {
        "Dockerfile": "FROM python:latest\nFROM redis\nFROM alpine:3.20\n",
        ".preflight.yaml": "rules: {PF102: error}\nextend-select: [PF103]\nignore: [PF101]\n",
    })  # fmt: skip
    # the configuration alone: PF102 as error, PF103 enabled, PF101 ignored
    assert rules_found(tmp_path) == [("PF102", 1), ("PF103", 1), ("PF103", 2), ("PF103", 3)]
    # --select is the basis: the configuration's rules levels, extend-select and ignore do not add to it
    assert rules_found(tmp_path, "--select", "PF101") == [("PF101", 2)]
    # --extend-select and --ignore adjust the configured selection
    assert rules_found(tmp_path, "--extend-select", "PF101", "--ignore", "PF103") == [("PF101", 2), ("PF102", 1)]
    # on top of a command-line --select, the command line's own adjustments apply
    assert rules_found(tmp_path, "--select", "PF1", "--ignore", "PF103") == [("PF101", 2), ("PF102", 1)]


def test_a_severity_from_the_configuration_stays_for_a_selected_rule(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM python:latest\n", ".preflight.yaml": "rules: {PF102: note}\n"})
    done = preflight(tmp_path, "check", "--offline", "--format", "json", "--select", "PF102", ".")
    assert [(f["rule"], f["level"]) for f in json.loads(done.stdout)["findings"]] == [("PF102", "note")]
