"""The stages before any Dockerfile is read: discover the files, then plan the builds.

``discover_files`` finds the Dockerfiles and compose files (``discover.discover``) and turns the
paths it could not read into problem documents. ``plan_builds`` reads the compose files (their
``build:`` links name Dockerfiles and the build args, target platform and named contexts to read
them with) and decides each Dockerfile's readings (``Job``s). A Dockerfile named alone looks
upward for the compose files that build it (``builders_of``). I/O: the file system only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import Config
from .confine import Confinement, allowed_environment, project_roots
from .discover import Target, compile_excludes, discover, display_path, is_excluded
from .filekinds import classify
from .model import BuildLink, Document, Location, Problem, Suppressions


@dataclass(frozen=True)
class Scope:
    """A run's inputs as every file-reading stage sees them."""

    paths: tuple[str, ...]
    config: Config
    cwd: Path
    environ: Mapping[str, str]  # under --untrusted: only the names config.allow_env allows
    confine: Confinement | None = None  # --untrusted: files may be opened only inside the project roots

    @classmethod
    def of(
        cls, paths: Sequence[str], config: Config, cwd: Path, environ: Mapping[str, str], untrusted: bool = False
    ) -> Scope:
        if not untrusted:
            return cls(tuple(paths), config, cwd, environ)
        confine = Confinement(project_roots(list(paths), os.fspath(cwd)))
        return cls(tuple(paths), config, cwd, allowed_environment(environ, config.allow_env), confine)

    def show(self, path: Path) -> str:
        return display_path(path, self.cwd)


@dataclass(frozen=True)
class Discovered:
    scope: Scope
    targets: tuple[Target, ...]
    problems: tuple[Document, ...]  # PF001 at paths that could not be read or listed, one document per path


def discover_files(scope: Scope) -> Discovered:
    config = scope.config
    found = discover(list(scope.paths) or ["."], scope.cwd, config.exclude, scope.confine, config.compose_files)
    by_path: dict[str, list[Problem]] = {}
    for problem in found.problems:
        by_path.setdefault(problem.location.path, []).append(problem)
    problems = tuple(
        Document(at, "directory" if os.path.isdir(scope.cwd / at) else "unknown", problems=tuple(ps))
        for at, ps in by_path.items()  # a locked directory is no file
    )
    return Discovered(scope, found.targets, problems)


@dataclass(frozen=True)
class Job:
    """One reading of a Dockerfile."""

    args: Mapping[str, str]  # build args: config < compose build.args < --build-arg
    linked_from: Location | None  # the compose service's build: key that links it (None: read on its own)
    platform: str | None  # the target platform ($TARGETPLATFORM)
    contexts: tuple[str, ...] = ()  # names of compose build.additional_contexts


@dataclass(frozen=True)
class BuildPlan:
    discovered: Discovered
    compose: Mapping[str, Document]  # compose documents by display path, merged when reached several ways
    jobs: Mapping[Path, tuple[Job, ...]]  # Dockerfile -> its readings, in the order they were planned
    builders: Mapping[Path, tuple[BuildLink, ...]]  # Dockerfile -> the compose services of this run that build it
    unlinked: frozenset[Path] = field(default_factory=frozenset)  # named on the command line, no compose link here


def plan_builds(found: Discovered) -> BuildPlan:
    planner = _Planner(found.scope)
    direct: list[Path] = []
    for target in found.targets:
        if target.kind != "compose":
            direct.append(target.path)
            continue
        # Found in a directory: the project `docker compose up` there would load (with its
        # override file); named on the command line: that file alone, as `docker compose -f`.
        for doc in planner.read_compose(target.path, merge_override=not target.explicit):
            planner.compose[doc.path] = _merge(planner.compose.get(doc.path), doc)
            for link in doc.builds:
                planner.add(Path(link.dockerfile).resolve(), link, link.location)
    explicit = {t.path for t in found.targets if t.explicit}
    linked_from_compose = set(planner.jobs)
    for path in direct:
        # A Dockerfile that a compose service builds is checked with that service's build args
        # only; reading it again without them would report variables compose does supply.
        if path in planner.jobs:
            continue
        # Named alone (pre-commit passes only changed files): a compose file beside it or above
        # it may build it; use that service's build args, without reporting on the compose file.
        links = builders_of(path, found.scope.cwd, planner.builds_of, found.scope.confine) if path in explicit else []
        for link in links:
            planner.add(path, link, None)
        if not links:
            planner.jobs[path] = [Job(dict(found.scope.config.build_args), None, planner.default_platform)]
    return BuildPlan(
        found,
        dict(planner.compose),
        {path: tuple(jobs) for path, jobs in planner.jobs.items()},
        {path: tuple(links) for path, links in planner.builders.items()},
        frozenset(explicit - linked_from_compose),
    )


class _Planner:
    """The state of ``plan_builds``: jobs so far, and each compose file's build links, read once."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.excludes = compile_excludes(scope.config.exclude)
        self.default_platform = scope.config.platforms[0] if scope.config.platforms else None
        self.compose: dict[str, Document] = {}
        self.jobs: dict[Path, list[Job]] = {}
        self.builders: dict[Path, list[BuildLink]] = {}
        self.compose_builds: dict[Path, tuple[BuildLink, ...]] = {}

    def excluded(self, path: Path) -> bool:
        """Excluded means not checked, however the file was reached (here: a compose ``build:``)."""
        rel = self.scope.show(path)
        return not os.path.isabs(rel) and is_excluded(rel, False, self.excludes)

    def add(self, dockerfile: Path, link: BuildLink, where: Location | None) -> None:
        if self.excluded(dockerfile):
            return
        config = self.scope.config
        platform = link.platforms[0] if link.platforms else self.default_platform
        # config build-args < compose build.args < --build-arg (as `docker compose build --build-arg`)
        args = {**config.build_args, **link.args, **config.cli_build_args}
        self.jobs.setdefault(dockerfile, []).append(Job(args, where, platform, link.contexts))
        if where is not None:
            self.builders.setdefault(dockerfile, []).append(link)

    def read_compose(self, path: Path, merge_override: bool = True) -> list[Document]:
        from .compose import load_compose  # only runs with compose files pay for the YAML import

        scope = self.scope
        docs = load_compose(path, scope.show, scope.environ, merge_override=merge_override, confine=scope.confine)
        self.compose_builds[path] = tuple(b for doc in docs for b in doc.builds)
        return docs

    def builds_of(self, path: Path) -> tuple[BuildLink, ...]:
        if path not in self.compose_builds:
            self.read_compose(path)
        return self.compose_builds[path]


def builders_of(
    dockerfile: Path,
    cwd: Path,
    builds_of: Callable[[Path], Sequence[BuildLink]],
    confine: Confinement | None = None,
) -> list[BuildLink]:
    """Build links to ``dockerfile`` from compose files in its directory or a parent (up to the
    working directory, or the file's own directory when it lies outside it; never above a
    project root when confined)."""
    directory = dockerfile.parent
    stop = cwd.resolve()
    links: list[BuildLink] = []
    while True:
        try:
            names = sorted(e.name for e in os.scandir(directory) if e.is_file())
        except OSError:
            names = []
        for name in names:
            if classify(name) == "compose":
                links += [b for b in builds_of(directory / name) if Path(b.dockerfile).resolve() == dockerfile]
        if links or directory == stop or directory.parent == directory or stop not in directory.parents:
            return links
        directory = directory.parent
        if confine is not None and not confine.contains(os.fspath(directory)):
            return links


def _merge(old: Document | None, new: Document) -> Document:
    """One document per compose file, even when it was reached several ways (directly, by
    ``include``, or partially through ``extends: {file:}``)."""
    if old is None:
        return new
    return replace(
        old,
        uses=tuple(dict.fromkeys(old.uses + new.uses)),
        problems=tuple(dict.fromkeys(old.problems + new.problems)),
        builds=tuple(
            {(b.dockerfile, tuple(sorted(b.args.items())), b.target): b for b in old.builds + new.builds}.values()
        ),
        suppressions=Suppressions.of(old.suppressions.entries + new.suppressions.entries),
    )
