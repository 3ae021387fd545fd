"""The files git does not ignore below a directory (``git ls-files``), for discovery inside a work
tree. Runs git with the checked tree's configured commands turned off."""

from __future__ import annotations

import functools
import os

from .confine import git_top

_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_NAMESPACE")


@functools.lru_cache(maxsize=1)
def _git() -> str | None:
    import shutil

    return shutil.which("git")


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    return env


def ls_files(directory: str) -> list[tuple[str, bool]] | None:
    """Files git does not ignore below ``directory`` (relative, ``/``-separated), or None when
    git is missing or ``directory`` is not in a work tree. Each entry is (path, nested) where
    nested marks a submodule or a nested repository, which needs its own listing."""
    # No .git here or above, as git sees it (the physical directory; GIT_DIR is dropped): git would fail.
    if git_top(os.path.realpath(directory)) is None:
        return None
    git = _git()
    if git is None:
        return None
    import subprocess  # only inside git work trees

    try:
        proc = subprocess.run(
            # The checked tree's own .git/config may name commands (core.fsmonitor runs on
            # ls-files): turn them off so that listing files never runs a program from it.
            [
                git,
                "-c",
                "core.fsmonitor=false",
                "-c",
                "core.untrackedCache=false",
                "ls-files",
                "--cached",
                "--others",
                "--exclude-standard",
                "--stage",
                "-z",
            ],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(),
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    out: list[tuple[str, bool]] = []
    for raw in proc.stdout.split(b"\0"):
        if not raw:
            continue
        # --stage prints "<mode> <object> <stage>\t<path>" for index entries; untracked files
        # come as bare paths, untracked nested repositories as "<path>/".
        mode = b""
        if raw[:1].isdigit() and b"\t" in raw:
            meta, _, raw = raw.partition(b"\t")
            mode = meta.split(b" ", 1)[0]
        text = os.fsdecode(raw)
        if mode == b"160000":
            out.append((text, True))
        elif text.endswith("/"):
            out.append((text.rstrip("/"), True))
        else:
            out.append((text, False))
    return out
