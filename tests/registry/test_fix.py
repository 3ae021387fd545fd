"""``preflight fix`` against the real registry: golden files for every edit kind (tests/data/fix).

Each case directory holds ``before/`` and ``after/`` trees, ``args`` (the fix options) and
optionally ``expect`` (lines the output must contain). ``{R}`` is the registry, ``{D:repo:tag}``
a pushed digest, ``{C:repo:tag:platform}`` a platform manifest inside a pushed index. Every case
runs with LF, CRLF line endings and without a final newline, and checks: --dry-run changes
nothing and prints the diff; fix writes exactly ``after`` (bytes, file mode kept); a second run
changes nothing; after --pin, check reports no PF101/PF102/PF103 on the lines that were pinned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .images import push_image

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "data" / "fix"
EDITED = ("Dockerfile", "compose.yaml")


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "DOCKER_CONFIG": str(tmp / "docker"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "preflight", *args]
    return subprocess.run(cmd, cwd=tmp / "work", env=env, capture_output=True, text=True, timeout=60)


def substitute(text: str, registry: Any) -> str:
    def token(m: re.Match[str]) -> str:
        kind, key = m.group(1), m.group(2)
        if kind == "D":
            return str(registry.digests[key])
        repo_tag, _, platform = key.rpartition(":")
        return str(registry.children[repo_tag][platform])

    text = re.sub(r"\{([DC]):([^{}]+)\}", token, text)
    return text.replace("{R}", registry.hostport)


def variant(text: str, how: str) -> str:
    if how == "crlf":
        return text.replace("\n", "\r\n")
    if how == "no-final-newline":
        return text.rstrip("\n")
    return text


def materialize(case: Path, side: str, dest: Path, registry: Any, how: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for src in sorted((case / side).rglob("*")):
        if src.is_dir():
            continue
        rel = src.relative_to(case / side)
        text = substitute(src.read_text(encoding="utf-8"), registry)
        if rel.name in EDITED:
            text = variant(text, how)
        data = text.encode("utf-8")
        out[str(rel)] = data
        if dest is not None:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pf10x_lines(tmp: Path) -> set[tuple[str, int]]:
    done = run(tmp, "check", ".", "--extend-select", "PF103", "--select", "PF1", "--format", "json", "--exit-zero")
    assert done.returncode == 0, done.stderr
    return {(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"] if f["rule"][:4] == "PF10"}


@pytest.mark.parametrize("how", ["lf", "crlf", "no-final-newline"])
@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden(case: str, how: str, registry: Any, tmp_path: Path) -> None:
    path = CASES / case
    work = tmp_path / "work"
    work.mkdir()
    before = materialize(path, "before", work, registry, how)
    after = materialize(path, "after", None, registry, how)  # type: ignore[arg-type]
    for name in before:
        os.chmod(work / name, 0o640)
    args = (path / "args").read_text().split()
    changed = before != after

    dry = run(tmp_path, "fix", ".", "--dry-run", *args)
    assert dry.returncode == (1 if changed else 0), dry.stderr
    assert tree(work) == before
    if changed:
        assert "--- a/" in dry.stdout and "+++ b/" in dry.stdout
        assert ("\\ No newline at end of file" in dry.stdout) == (how == "no-final-newline")
    else:
        assert dry.stdout == ""

    done = run(tmp_path, "fix", ".", *args)
    assert done.returncode == (1 if changed else 0), done.stderr
    assert tree(work) == after
    for name in before:
        assert stat.S_IMODE((work / name).stat().st_mode) == 0o640
    assert not [p for p in work.iterdir() if p.name.endswith(".preflight-fix")]
    if (path / "expect").exists():
        for line in substitute((path / "expect").read_text(encoding="utf-8"), registry).splitlines():
            assert line in done.stdout.splitlines(), done.stdout

    again = run(tmp_path, "fix", ".", *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert tree(work) == after

    if "--pin" in args:
        pinned = {
            (name, i + 1)
            for name in before
            for i, (a, b) in enumerate(zip(before[name].splitlines(), after[name].splitlines(), strict=True))
            if a != b and b"@sha256:" in b
        }
        assert pinned and not (pinned & pf10x_lines(tmp_path))


def test_pin_with_platform_writes_the_index_digest(registry: Any, tmp_path: Path) -> None:
    """--pin --platform: the digest of the index (every platform keeps working), never a platform manifest."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text(f"FROM {registry.hostport}/library/python:3.12-slim\n")
    done = run(tmp_path, "fix", ".", "--pin", "--platform", "linux/arm64", "--no-cache")
    assert done.returncode == 1, done.stderr
    index = registry.digests["library/python:3.12-slim"]
    assert index not in registry.children["library/python:3.12-slim"].values()
    assert (work / "Dockerfile").read_text() == f"FROM {registry.hostport}/library/python:3.12-slim@{index}\n"


def test_typo_and_pin_in_one_run_is_idempotent(registry: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    r = registry.hostport
    (work / "Dockerfile").write_text(f"FROM {r}/library/python:3.12-slimm\n")
    assert run(tmp_path, "fix", ".", "--pin").returncode == 1
    expected = f"FROM {r}/library/python:3.12-slim@{registry.digests['library/python:3.12-slim']}\n"
    assert (work / "Dockerfile").read_text() == expected
    assert run(tmp_path, "fix", ".", "--pin").returncode == 0


def test_moved_tag_is_updated_and_symlinks_stay_links(registry: Any, scratch_repo: str, tmp_path: Path) -> None:
    old = push_image(registry.url, scratch_repo, "1.0", seed="one")
    new = push_image(registry.url, scratch_repo, "1.0", seed="two")
    work = tmp_path / "work"
    (work / "real").mkdir(parents=True)
    (work / "real" / "Dockerfile").write_text(f"FROM {registry.hostport}/{scratch_repo}:1.0@{old}\n")
    (work / "Dockerfile").symlink_to("real/Dockerfile")
    done = run(tmp_path, "fix", "Dockerfile", "--update-digests", "--no-cache")
    assert done.returncode == 1, done.stderr
    assert (work / "Dockerfile").is_symlink()
    assert (work / "real" / "Dockerfile").read_text() == f"FROM {registry.hostport}/{scratch_repo}:1.0@{new}\n"


def test_unreachable_registry_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text("FROM 127.0.0.1:9/library/python:3.12\n")
    done = run(tmp_path, "fix", ".", "--pin", "--timeout", "5")
    assert done.returncode == 2
    assert "did not answer" in done.stdout
    assert (work / "Dockerfile").read_text() == "FROM 127.0.0.1:9/library/python:3.12\n"


def test_offline_configuration_is_a_usage_error(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text("FROM python:3.12\n")
    (work / ".preflight.yaml").write_text("offline: true\n")
    done = run(tmp_path, "fix", ".", "--pin")
    assert done.returncode == 2 and "needs the registries" in done.stderr
    shutil.rmtree(work)


def readme_examples() -> list[tuple[str, list[str], str, str, str]]:
    """(name, fix options, file name, before, after) of every ``<!-- fix-example: NAME OPTIONS -->``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- fix-example: (\S+)((?: \S+)*) -->\n```(\w+)\n(.*?)```\n.*?```\w+\n(.*?)```", re.S)
    out = []
    for m in pattern.finditer(text):
        name = "Dockerfile" if m.group(3) == "dockerfile" else "compose.yaml"
        out.append((m.group(1), m.group(2).split(), name, m.group(4), m.group(5)))
    return out


def test_readme_has_the_examples() -> None:
    assert [e[0] for e in readme_examples()] == ["typo", "pin", "arg-default"]


@pytest.mark.parametrize("example", readme_examples(), ids=lambda e: e[0])
def test_readme_example(example: tuple[str, list[str], str, str, str], registry: Any, tmp_path: Path) -> None:
    """What the README shows is what fix writes (digests shortened to ``sha256:…`` there)."""
    _, args, name, before, after = example
    work = tmp_path / "work"
    work.mkdir()
    (work / name).write_text(before, encoding="utf-8")
    config = {"registries": {"registry.example": {"endpoint": registry.url}}}
    (work / ".preflight.yaml").write_text(json.dumps(config), encoding="utf-8")
    done = run(tmp_path, "fix", ".", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    written = re.sub(r"sha256:[0-9a-f]{64}", "sha256:…", (work / name).read_text(encoding="utf-8"))
    assert written == after
