"""``preflight fix`` writes only files inside the project roots, with and without ``--untrusted``: a
repository's symbolic link, ``build``, ``include`` or ``extends`` that leads outside it is listed, never
written (before: the file outside was edited in every trusted case)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_fix import run

TYPO = "library/python:3.12-slimm"


def _layout(tmp_path: Path, registry: Any) -> tuple[Path, Path, str]:
    work = tmp_path / "work"
    outside = tmp_path / "outside"
    work.mkdir()
    (work / ".git").mkdir()
    outside.mkdir()
    body = f"FROM {registry.hostport}/{TYPO}\n"
    return work, outside, body


@pytest.mark.parametrize("untrusted", [[], ["--untrusted", "--allow-host", "127.0.0.1"]], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("how", ["scan", "named"])
def test_symlinked_dockerfile_outside_is_not_written(
    registry: Any, tmp_path: Path, untrusted: list[str], how: str
) -> None:
    work, outside, body = _layout(tmp_path, registry)
    (outside / "Dockerfile").write_text(body)
    (work / "Dockerfile").symlink_to(outside / "Dockerfile")
    done = run(tmp_path, "fix", "." if how == "scan" else "Dockerfile", *untrusted)
    assert (outside / "Dockerfile").read_text() == body
    assert (work / "Dockerfile").is_symlink()
    assert done.returncode == 0, done.stdout + done.stderr
    if not untrusted:  # read as check reads it (the user's choice), listed, not written
        assert "not fixed" in done.stdout and "outside the project" in done.stdout


@pytest.mark.parametrize("untrusted", [[], ["--untrusted", "--allow-host", "127.0.0.1"]], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("kind", ["include", "build", "extends", "dirlink"])
def test_compose_reference_outside_is_not_written(
    registry: Any, tmp_path: Path, untrusted: list[str], kind: str
) -> None:
    work, outside, body = _layout(tmp_path, registry)
    image = f"{registry.hostport}/{TYPO}"
    if kind == "include":
        (outside / "compose.yaml").write_text(f"services:\n  a:\n    image: {image}\n")
        (work / "compose.yaml").write_text("include:\n  - ../outside/compose.yaml\n")
        target = outside / "compose.yaml"
    elif kind == "build":
        (outside / "Dockerfile").write_text(body)
        (work / "compose.yaml").write_text("services:\n  a:\n    build: ../outside\n")
        target = outside / "Dockerfile"
    elif kind == "extends":
        (outside / "base.yaml").write_text(f"services:\n  base:\n    image: {image}\n")
        (work / "compose.yaml").write_text(
            "services:\n  a:\n    extends: {file: ../outside/base.yaml, service: base}\n"
        )
        target = outside / "base.yaml"
    else:
        (outside / "Dockerfile").write_text(body)
        (work / "sub").symlink_to(outside)
        target = outside / "Dockerfile"
    before = target.read_text()
    done = run(tmp_path, "fix", ".", *untrusted)
    assert target.read_text() == before
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [p.name for p in outside.iterdir() if "preflight-fix" in p.name]  # no temporary file either
    if not untrusted:
        assert "not fixed" in done.stdout and "outside the project" in done.stdout


def test_symlink_inside_the_project_is_still_edited(registry: Any, tmp_path: Path) -> None:
    work, _, body = _layout(tmp_path, registry)
    (work / "real").mkdir()
    (work / "real" / "Dockerfile").write_text(body)
    (work / "Dockerfile").symlink_to("real/Dockerfile")
    done = run(tmp_path, "fix", "Dockerfile")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (work / "real" / "Dockerfile").read_text() == body.replace("slimm", "slim")


def test_dry_run_diff_cannot_act_on_a_terminal_or_a_github_log(registry: Any, tmp_path: Path) -> None:
    """The diff quotes the file's lines: a heredoc line '::error ...' (a workflow command once the
    runner trims the diff's leading space) and an escape sequence (before: both printed raw)."""
    work, _, _ = _layout(tmp_path, registry)
    lines = ["::error title=pwned::injected", "\x1b[31mred\x1b]8;;http://x\x07", "  ::add-mask::hidden"]
    (work / "Dockerfile").write_text(
        f"FROM scratch AS a\nRUN <<EOF\n{lines[0]}\n{lines[1]}\nEOF\n"
        f"FROM {registry.hostport}/{TYPO}\nRUN <<EOF\n{lines[2]}\nEOF\n"
    )
    import os
    import subprocess
    import sys

    from .test_fix import ROOT

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
        "GITHUB_ACTIONS": "true",
    }
    cmd = [sys.executable, "-m", "preflight", "fix", ".", "--dry-run"]
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout
    out = done.stdout.splitlines()
    assert out[0].startswith("::stop-commands::") and len(out[0]) > len("::stop-commands::") + 16
    token = out[0].removeprefix("::stop-commands::")
    assert out[-1] == f"::{token}::"
    assert token not in "".join(lines) and "3.12-slim" in done.stdout  # the diff is there, between the two
    assert [line for line in out[1:-1] if line.lstrip().startswith("::")]  # the injected lines, neutralized
