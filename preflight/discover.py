"""Which files to read: Dockerfiles and compose files, found by name, recursively.

``discover(paths, cwd, exclude)`` turns command-line paths into ``Target``s:

* A named **file** is always a target (unless excluded). Its kind comes from its name
  (``filekinds.classify``); an unknown name ending in ``.yaml``/``.yml`` is a compose file, any other
  unknown name a Dockerfile (naming ``build/app.docker`` means it).
* A named **directory** (default ``.``) is searched recursively, hidden directories such as
  ``.devcontainer`` and ``.github`` included; only files whose name ``classify`` knows are
  taken. ``.git``, ``.hg`` and ``.svn`` are always skipped. Inside a git work tree the file list
  comes from ``git ls-files --cached --others --exclude-standard`` (one call per repository:
  nested repositories and submodules get their own call), so what git ignores is skipped;
  otherwise the directory is walked with ``os.scandir``, following directory symlinks once
  each (a symlink loop is visited once, never followed again). Git does not follow symlinked
  directories, so neither does discovery inside a work tree. A git-ignored directory named on
  the command line yields nothing, as git lists nothing in it.
* Every target's path is resolved (symlinks followed), so a file reached twice is one target;
  it counts as explicit when any route to it was explicit. Targets are sorted by display path.

Exclude patterns (``--exclude``, config ``exclude`` and ``compose-files``): ``preflight.excludes``;
the git listing: ``preflight.gitfiles``; what a file is, by name or content: ``preflight.filekinds``.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .confine import OUTSIDE, Confinement
from .excludes import ExcludePattern, compile_excludes, hit, is_excluded
from .filekinds import COMPOSE, classify, classify_explicit, sniff_compose
from .gitfiles import ls_files
from .model import Location, Problem

VCS_DIRS = frozenset({".git", ".hg", ".svn"})

_YAML_RE = re.compile(r"[^/]*\.ya?ml\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    path: Path  # absolute, resolved
    kind: str  # "dockerfile" | "compose"
    explicit: bool  # named on the command line


@dataclass(frozen=True)
class Discovery:
    targets: tuple[Target, ...]
    problems: tuple[Problem, ...]


def display_path(path: Path | str, cwd: Path | str) -> str:
    """``path`` relative to ``cwd`` with ``/`` separators when inside it, else absolute posix.

    A ``cwd`` reached through a symlink counts both as given and as resolved.
    """
    return _relative(os.path.normpath(os.path.join(cwd, path)), os.fspath(cwd))


def _relative(p: str, cwd: str) -> str:
    for base in _bases(cwd):
        if p == base:
            return "."
        head = base if base.endswith(os.sep) else base + os.sep
        if p.startswith(head):
            rel = p[len(head) :]
            return rel if os.sep == "/" else rel.replace(os.sep, "/")
    return Path(p).as_posix()


@functools.lru_cache(maxsize=16)
def _bases(cwd: str) -> tuple[str, ...]:
    """cwd as given (made absolute) and with symlinks resolved, for display_path."""
    given = os.path.abspath(cwd)
    real = os.path.realpath(cwd)
    return (given,) if real == given else (given, real)


# ----------------------------------------------------------------- discovery


def discover(
    paths: Sequence[str],
    cwd: Path,
    exclude: Sequence[str] = (),
    confine: Confinement | None = None,
    compose_files: Sequence[str] = (),
) -> Discovery:
    """Find the Dockerfiles and compose files named by or below ``paths`` (default ``.``).

    With ``confine`` (``--untrusted``), a file or directory whose real path (after symbolic
    links) is outside the project roots is a PF001 problem at its path and is not taken.
    """
    walker = _Walker(Path(os.path.abspath(cwd)), compile_excludes(exclude), confine)
    walker.compose_patterns = compile_excludes(compose_files)  # config compose-files: same glob syntax
    for arg in paths or (".",):
        walker.visit_argument(arg)
    return walker.result()


class _Walker:
    def __init__(self, cwd: Path, patterns: tuple[ExcludePattern, ...], confine: Confinement | None = None) -> None:
        self.cwd = cwd
        self.patterns = patterns
        self.confine = confine
        self.compose_patterns: tuple[ExcludePattern, ...] = ()
        self.found: dict[str, tuple[str, bool]] = {}  # resolved path -> (kind, explicit)
        self.problems: list[Problem] = []
        self.seen_dirs: set[tuple[int, int]] = set()

    # -- bookkeeping

    def add(self, real: str, kind: str, explicit: bool) -> None:
        old = self.found.get(real)
        if old is None or (explicit and not old[1]):
            self.found[real] = (kind, explicit)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem("PF001", Location(display_path(Path(path), self.cwd)), message))

    def escapes(self, path: str, real: str, quiet: bool = False) -> bool:
        """True (with a problem at ``path`` unless ``quiet``) if ``real``, where ``path`` leads, is
        outside the project. Quiet for YAML not named like a compose file: never opened to sniff."""
        if self.confine is None or self.confine.contains(real):
            return False
        if quiet:
            return True
        try:
            target = os.readlink(path)
        except (OSError, ValueError):
            target = None
        how = f"symbolic link to {target}" if target is not None else os.path.basename(path)
        self.problem(path, f"{OUTSIDE}: {how} (not read)")
        return True

    def rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.cwd)
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    def result(self) -> Discovery:
        cwd = str(self.cwd)
        keyed = sorted((_relative(real, cwd), real, kind, explicit) for real, (kind, explicit) in self.found.items())
        problems = sorted(set(self.problems), key=lambda p: (p.location.path, p.message))
        targets = tuple(Target(Path(real), kind, explicit) for _, real, kind, explicit in keyed)
        return Discovery(targets, tuple(problems))

    # -- command-line arguments

    def visit_argument(self, arg: str) -> None:
        path = os.path.normpath(os.path.join(self.cwd, arg))
        try:
            st = os.stat(path)
        except OSError:
            if os.path.lexists(path):
                self.problem(path, "broken symbolic link")
            else:
                self.problem(path, "path not found")
            return
        rel = self.rel(path)
        is_dir = stat.S_ISDIR(st.st_mode)
        if rel != "." and is_excluded(rel, is_dir, self.patterns):
            return
        if not is_dir:
            real = os.path.realpath(path)
            if not self.escapes(path, real):
                self.add(real, classify_explicit(os.path.basename(path)), True)
            return
        if (st.st_dev, st.st_ino) not in self.seen_dirs:
            self.directory(path, os.path.realpath(path), rel)

    # -- directories

    def directory(self, path: str, real: str, rel: str) -> None:
        """Search a directory: through git when it is in a work tree, else by walking it."""
        entries = ls_files(path)
        if entries is None:
            self.walk(path, real, rel)
        else:
            self.from_git(path, real, rel, entries)

    def from_git(self, path: str, real: str, rel: str, entries: list[tuple[str, bool]]) -> None:
        self.mark_seen(path)
        prefix = "" if rel == "." else rel + "/"
        for entry, nested in entries:
            if nested:
                sub = os.path.join(path, entry)
                if os.path.isdir(sub) and not is_excluded(prefix + entry, True, self.patterns):
                    if not self.mark_seen(sub):
                        self.directory(sub, os.path.realpath(sub), prefix + entry)
                continue
            name = entry.rpartition("/")[2]
            kind = self.kind_of(prefix + entry, name)
            if kind is None and not _YAML_RE.match(name):
                continue
            if is_excluded(prefix + entry, False, self.patterns):
                continue
            self.file(os.path.join(path, entry), os.path.join(real, entry), kind)

    def kind_of(self, rel: str, name: str) -> str | None:
        """By name (``classify``), else a compose file when the config's ``compose-files`` globs match."""
        kind = classify(name)
        if kind is None and self.compose_patterns and hit(rel, False, self.compose_patterns):
            return COMPOSE
        return kind

    def mark_seen(self, path: str) -> bool:
        """Record a directory's inode; True if it was seen before (or cannot be stat'ed)."""
        try:
            st = os.stat(path)
        except OSError:
            return True
        key = (st.st_dev, st.st_ino)
        if key in self.seen_dirs:
            return True
        self.seen_dirs.add(key)
        return False

    def walk(self, top: str, top_real: str, top_rel: str) -> None:
        """Walk a tree with ``os.scandir``, each directory (by inode) once; a repository met on
        the way (a ``.git`` entry) is listed through git instead."""
        self.mark_seen(top)
        stack = [(top, top_real, top_rel, False)]
        while stack:
            path, real, rel, try_git = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = list(it)
            except OSError as exc:
                self.problem(path, f"cannot read directory: {exc.strerror or exc}")
                continue
            if try_git and any(e.name == ".git" for e in entries):
                listed = ls_files(path)
                if listed is not None:
                    self.from_git(path, real, rel, listed)
                    continue
            prefix = "" if rel == "." else rel + "/"
            for entry in entries:
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir()  # follows symlinks
                except OSError:
                    continue
                if not is_dir:
                    self.walked_file(entry, real, prefix, is_link)
                    continue
                sub = self.subdirectory(entry, real, prefix, is_link)
                if sub is not None:
                    stack.append((entry.path, sub, prefix + entry.name, True))

    def subdirectory(self, entry: os.DirEntry[str], real: str, prefix: str, is_link: bool) -> str | None:
        """The real path of a directory met on a walk, or None when it is not walked (VCS data,
        excluded, outside the project, a symlink loop or reached before)."""
        name = entry.name
        if name in VCS_DIRS or hit(prefix + name, True, self.patterns):
            return None
        sub_real = os.path.realpath(entry.path) if is_link else _join(real, name)
        if is_link and self.escapes(entry.path, sub_real):
            return None
        if self.mark_seen(entry.path):
            return None  # a symlink loop, or a directory reached twice
        return sub_real

    def walked_file(self, entry: os.DirEntry[str], real: str, prefix: str, is_link: bool) -> None:
        """A file met on a walk: a target when its name (or, for YAML, its content) says so."""
        name = entry.name
        kind = self.kind_of(prefix + name, name)
        if kind is None and not _YAML_RE.match(name):
            return
        if hit(prefix + name, False, self.patterns):
            return
        if is_link and not os.path.exists(entry.path):
            if kind is not None:
                self.problem(entry.path, "broken symbolic link")
            return
        if not entry.is_file():
            return  # a FIFO, socket or device with a Dockerfile-like name
        target = os.path.realpath(entry.path) if is_link else _join(real, name)
        if is_link and self.escapes(entry.path, target, quiet=kind is None):
            return
        if kind is None:
            if not sniff_compose(entry.path):
                return
            kind = COMPOSE
        self.add(target, kind, False)

    def file(self, path: str, real: str, kind: str | None) -> None:
        """A file git listed: skip it when deleted from the work tree; resolve a symlink; a YAML
        file not named like a compose file (``kind`` None) is one when its content says so."""
        try:
            st = os.lstat(path)
        except OSError:
            return  # tracked but deleted (or not checked out)
        if stat.S_ISLNK(st.st_mode):
            if not os.path.exists(path):
                if kind is not None:
                    self.problem(path, "broken symbolic link")
                return
            real = os.path.realpath(path)
            if self.escapes(path, real, quiet=kind is None):
                return
            if not os.path.isfile(path):
                return
        elif not stat.S_ISREG(st.st_mode):
            return
        if kind is None:
            if not sniff_compose(path):
                return
            kind = COMPOSE
        self.add(real, kind, False)


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith(os.sep) else directory + os.sep + name
