"""The pre-commit hook manifest, the documented CI snippets, and the hook run for real (try-repo)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight.filekinds import classify

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def readme_snippet(name: str) -> str:
    """The YAML block README.md shows after ``<!-- snippet: NAME -->``: what users copy is what is tested."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```yaml\n(.*?)```", text, re.S)
    assert match, f"README.md has no snippet {name!r}"
    return match.group(1)


PRE_COMMIT_CONFIG = readme_snippet("pre-commit-config")
GITHUB_WORKFLOW = readme_snippet("github-workflow")
GITLAB_JOB = readme_snippet("gitlab-job")


def pre_commit() -> list[str]:
    if (
        shutil.which("git") is None
        or subprocess.run([sys.executable, "-m", "pre_commit", "--version"], capture_output=True).returncode
    ):
        if os.environ.get("CI"):
            pytest.fail("pre-commit and git are needed (pip install -e '.[test]')")
        pytest.skip("pre-commit or git is not installed")
    return [sys.executable, "-m", "pre_commit"]


def hooks() -> dict[str, dict[str, Any]]:
    return {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))}


def test_manifest_validates() -> None:
    result = subprocess.run([*pre_commit(), "validate-manifest", str(MANIFEST)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_hooks() -> None:
    found = hooks()
    assert set(found) == {"preflight", "preflight-offline", "preflight-fix"}
    assert found["preflight"]["entry"] == "preflight check --no-fail-on-unchecked"
    assert found["preflight-offline"]["entry"] == "preflight check --offline"
    assert found["preflight-fix"]["entry"] == "preflight fix"
    for hook in found.values():
        assert hook["language"] == "python"
        assert hook["types"] == ["text"]
        assert hook["require_serial"] is True
        assert hook["minimum_pre_commit_version"] == "2.9.0"
        assert hook["args"] == []


NAMES = [
    "Dockerfile", "dockerfile", "Containerfile", "Dockerfile.dev", "Dockerfile.prod.arm64", "Containerfile.ubi",
    "sub/app.Dockerfile", "build.dockerfile", "x.Containerfile", "x.containerfile",
    "compose.yaml", "compose.yml", "docker-compose.yml", "sub/docker-compose.override.yml", "compose.prod.yaml",
    "docker-compose-dev.yml", "compose-ci.yaml",
    "other.yml", ".github/workflows/ci.yaml", "Dockerfile.md", "Dockerfile.template", "Dockerfile.TXT",
    "Dockerfile.dockerignore", "app.Dockerfile.dockerignore", "compose.json", "Dockerfile.", "README.md",
    "my-compose.yaml", "Makefile", "sub/Dockerfile.sh",
    "gateway-docker-compose.yml", "docker-stack.yml", "docker-stack.prod.yaml", "fig.yml", "stack.yml", "pwd.yml",
    "Dockerfile.compose.yml", "docker-stackfile.yml",
]  # fmt: skip


@pytest.mark.parametrize("path", NAMES)
def test_hook_selects_exactly_what_discovery_finds(path: str) -> None:
    """pre-commit's own rule (``files`` and not ``exclude``) agrees with ``preflight.filekinds.classify``."""
    wanted = classify(path.rsplit("/", 1)[-1]) is not None
    for hook in hooks().values():
        selected = re.search(hook["files"], path) is not None and re.search(hook["exclude"], path) is None
        assert selected is wanted, (hook["id"], path)


def test_snippets_parse() -> None:
    config = yaml.safe_load(PRE_COMMIT_CONFIG)
    assert config["repos"][0]["hooks"][0]["id"] in hooks()
    workflow = yaml.safe_load(GITHUB_WORKFLOW)
    job = workflow["jobs"]["preflight"]
    assert job["permissions"] == {"security-events": "write", "contents": "read"}
    upload = job["steps"][-1]
    assert upload["uses"] == "github/codeql-action/upload-sarif@v4" and upload["if"] == "always()"
    assert upload["with"] == {"sarif_file": "preflight.sarif", "category": "preflight"}
    run = [step["run"] for step in job["steps"] if "run" in step][-1]
    assert "--output-sarif preflight.sarif" in run
    gitlab = yaml.safe_load(GITLAB_JOB)["preflight"]
    assert "--format gitlab -o gl-code-quality-report.json" in gitlab["script"][-1]
    assert gitlab["artifacts"] == {"when": "always", "reports": {"codequality": "gl-code-quality-report.json"}}


def test_pre_commit_config_snippet_validates(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(PRE_COMMIT_CONFIG, encoding="utf-8")
    result = subprocess.run([*pre_commit(), "validate-config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


BAD_DOCKERFILE = "FROM python:latest\nFROM ubuntu AS base\n"
BAD_COMPOSE = "services:\n  cache:\n    image: redis\n"
DIGEST = "sha256:" + "a" * 64
GOOD_DOCKERFILE = f"FROM python:3.12-slim@{DIGEST}\n"
GOOD_COMPOSE = f"services:\n  cache:\n    image: redis:7.2@{DIGEST}\n"


def _git(repo: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def _hook_repo(tmp_path: Path, files: dict[str, str]) -> tuple[Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "pc"), HOME=str(tmp_path / "home"), GIT_CONFIG_NOSYSTEM="1")
    (tmp_path / "home").mkdir()
    repo = tmp_path / "repo"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    _git(repo, "init", "-q", env=env)
    _git(repo, "add", "-A", env=env)
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x", env=env)
    return repo, env


@pytest.mark.slow
def test_try_repo_end_to_end(tmp_path: Path) -> None:
    """pip-installs this checkout into a fresh hook environment and runs it (needs PyPI for pip)."""
    command = pre_commit()
    files = {
        "Dockerfile": BAD_DOCKERFILE,
        "compose.yaml": BAD_COMPOSE,
        "other.yml": "image: redis\n",  # not a compose file name: never passed to the hook
        "good/Dockerfile": GOOD_DOCKERFILE,
        "good/compose.yaml": GOOD_COMPOSE,
    }
    repo, env = _hook_repo(tmp_path, files)

    def try_repo(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [*command, "try-repo", str(ROOT), "preflight-offline", "--color", "never", *args]
        return subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=env, timeout=300)

    bad = try_repo("--all-files")
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1, out
    assert re.search(r"^Dockerfile:1:\d+: PF102 warning: ", out, re.M), out
    assert re.search(r"^Dockerfile:2:\d+: PF101 warning: ", out, re.M), out
    assert re.search(r"^compose\.yaml:3:\d+: PF101 warning: ", out, re.M), out
    assert "other.yml" not in out and "good/" not in out

    good = try_repo("--files", "good/Dockerfile", "good/compose.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_network_hook_does_not_block_a_commit_when_the_registry_cannot_be_asked(tmp_path: Path) -> None:
    """The full hook, for real, against a registry on a closed port: PF208 is shown, the commit
    passes; the same files through the plain CLI (what CI runs) still fail."""
    command = pre_commit()
    dockerfile = f"FROM 127.0.0.1:{_closed_port()}/team/app:1.0\n"
    repo, env = _hook_repo(tmp_path, {"Dockerfile": dockerfile})
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), DOCKER_CONFIG=str(tmp_path / "docker"))
    argv = [*command, "try-repo", str(ROOT), "preflight", "--color", "never", "--verbose", "--all-files"]
    hook = subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=env, timeout=300)
    out = hook.stdout + hook.stderr
    assert hook.returncode == 0, out
    assert "Passed" in out and re.search(r"^Dockerfile:1:\d+: PF208 warning: ", out, re.M), out
    ci = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--timeout", "10", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ci.returncode == 1 and "PF208" in ci.stdout, ci.stdout + ci.stderr
