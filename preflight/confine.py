"""``--untrusted``: which files a checked repository may make preflight open, and which environment it sees.

The **project root** of a run is, for each path named on the command line (default ``.``): the
nearest directory at or above it that holds ``.git`` (the git work tree's top level), else the
named directory itself (for a named file: its directory). Symbolic links in the named path are
resolved first. A run has one root per distinct result (usually exactly one).

Under ``--untrusted`` every path that a checked file makes preflight open (compose ``build.context``
and ``build.dockerfile``, ``include`` with its ``env_file`` and ``project_directory``,
``extends.file``, ``.env``, and a Dockerfile or directory reached through a symbolic link in a
directory scan) must resolve, after symbolic links, inside a project root; otherwise the place
that names it gets a PF001 finding and the file is never opened, not even to see whether it
exists. Compose interpolation sees no process environment, only the variables the user allows by
name (``--allow-env NAME``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

OUTSIDE = "refers to a file outside the project"
TRUE_VALUES = ("1", "true", "yes")
FALSE_VALUES = ("", "0", "false", "no")


@dataclass(frozen=True)
class Confinement:
    """The project roots (absolute, symbolic links resolved) that file references must stay in."""

    roots: tuple[str, ...]

    def contains(self, path: str) -> bool:
        """Does ``path`` (absolute) resolve, after symbolic links, inside a root? False for a path
        that cannot be resolved at all (a NUL byte)."""
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return False
        return any(
            real == root or real.startswith(root if root.endswith(os.sep) else root + os.sep) for root in self.roots
        )


def project_roots(paths: Sequence[str], cwd: str) -> tuple[str, ...]:
    """The project roots for a run over ``paths`` (relative to ``cwd``), as defined above."""
    roots: list[str] = []
    for arg in paths or (".",):
        path = os.path.join(cwd, arg)
        try:
            base = os.path.realpath(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
        except (OSError, ValueError):
            continue
        roots.append(git_top(base) or base)
    return tuple(dict.fromkeys(roots))


def git_top(directory: str) -> str | None:
    """The nearest directory at or above ``directory`` holding ``.git`` (no subprocess)."""
    current = directory
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def allowed_environment(environ: Mapping[str, str], allow: Iterable[str]) -> dict[str, str]:
    """The part of ``environ`` that checked files may read under ``--untrusted``: the names allowed."""
    return {name: environ[name] for name in allow if name in environ}


def env_flag(value: str | None) -> bool | None:
    """``PREFLIGHT_UNTRUSTED``: True for 1/true/yes, False for unset/empty/0/false/no (any case),
    None for anything else (the caller reports it: a typo must not silently mean "trusted")."""
    if value is None:
        return False
    text = value.strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    return None
