"""discover -> read -> (registry facts) -> evaluate: the one path from paths on disk to a Report.

The only imperative step is the optional registry lookup, imported lazily so offline runs never
import network code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .confine import Confinement, allowed_environment, project_roots
from .discover import compile_excludes, discover, display_path, is_excluded
from .engine import (
    RuleContext,
    RuleOptions,
    Selection,
    evaluate,
    needs_registry,
    subject_for,
)
from .facts import ImageFacts, Status
from .imageref import ImageRef
from .model import (
    DOCKER_IMAGE_CONTEXT,
    BuildLink,
    Document,
    ImageUse,
    Location,
    Problem,
    Report,
    Summary,
    Suppressions,
    UseKind,
)
from .platforms import required_platforms
from .textfile import InputError, read_text

if TYPE_CHECKING:
    from .localengine import Survey
    from .registry import Lookup
    from .registry.endpoints import DaemonConfig

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Loaded:
    documents: tuple[Document, ...]
    root: str  # absolute repository root (git top level, else cwd)


def selection_of(config: Config) -> Selection:
    return Selection(
        select=config.select, extend_select=config.extend_select, ignore=config.ignore, levels=config.levels
    )


def load(
    paths: Sequence[str], config: Config, *, cwd: Path, environ: Mapping[str, str], untrusted: bool = False
) -> Loaded:
    """Find and read every Dockerfile and compose file under ``paths``.

    ``untrusted``: files may only make preflight open files inside the project roots, and compose
    interpolation sees only the environment variables named in ``config.allow_env``
    (``preflight.confine``).
    """
    from .discover import classify
    from .dockerfile import looks_like_dockerfile, parse_dockerfile

    def show(p: Path) -> str:
        return display_path(p, cwd)

    confine: Confinement | None = None
    if untrusted:
        confine = Confinement(project_roots(list(paths), os.fspath(cwd)))
        environ = allowed_environment(environ, config.allow_env)
    found = discover(list(paths) or ["."], cwd, config.exclude, confine, config.compose_files)
    documents: dict[str, Document] = {}
    extra: list[Document] = []
    if found.problems:
        by_path: dict[str, list[Problem]] = {}
        for problem in found.problems:
            by_path.setdefault(problem.location.path, []).append(problem)
        for at, ps in by_path.items():
            kind = "directory" if os.path.isdir(cwd / at) else "unknown"  # a locked directory is no file
            extra.append(Document(at, kind, problems=tuple(ps)))

    # Dockerfiles to read: path -> list of (build args, where it was linked from, target platform)
    default_platform = config.platforms[0] if config.platforms else None
    jobs: dict[Path, list[tuple[Mapping[str, str], Location | None, str | None, tuple[str, ...]]]] = {}
    builders: dict[Path, list[BuildLink]] = {}  # Dockerfile -> the compose services that build it
    compose_builds: dict[Path, tuple[BuildLink, ...]] = {}  # compose file -> its build links, read once
    built_by: dict[str, set[str]] = {}  # Dockerfile document key -> compose files that build it
    cli_contexts = {
        name: value[len(DOCKER_IMAGE_CONTEXT) :] if value.lower().startswith(DOCKER_IMAGE_CONTEXT) else None
        for name, value in config.build_contexts.items()
    }

    excludes = compile_excludes(config.exclude)

    def excluded(path: Path) -> bool:
        """Excluded means not checked, however the file was reached (here: a compose ``build:``)."""
        rel = show(path)
        return not os.path.isabs(rel) and is_excluded(rel, False, excludes)

    def add_job(dockerfile: Path, link: BuildLink, where: Location | None) -> None:
        if excluded(dockerfile):
            return
        platform = link.platforms[0] if link.platforms else default_platform
        # config build-args < compose build.args < --build-arg (as `docker compose build --build-arg`)
        args = {**config.build_args, **link.args, **config.cli_build_args}
        jobs.setdefault(dockerfile, []).append((args, where, platform, link.contexts))
        if where is not None:
            builders.setdefault(dockerfile, []).append(link)

    def read_compose(path: Path, merge_override: bool = True) -> list[Document]:
        from .compose import load_compose  # only runs with compose files pay for the YAML import

        docs = load_compose(path, show, environ, merge_override=merge_override, confine=confine)
        compose_builds[path] = tuple(b for doc in docs for b in doc.builds)
        return docs

    def builds_of(path: Path) -> tuple[BuildLink, ...]:
        if path not in compose_builds:
            read_compose(path)
        return compose_builds[path]

    direct: list[Path] = []
    for target in found.targets:
        if target.kind == "compose":
            # Found in a directory: the project `docker compose up` there would load (with its
            # override file); named on the command line: that file alone, as `docker compose -f`.
            for doc in read_compose(target.path, merge_override=not target.explicit):
                documents[doc.path] = _merge(documents.get(doc.path), doc)
                for link in doc.builds:
                    add_job(Path(link.dockerfile).resolve(), link, link.location)
        else:
            direct.append(target.path)
    explicit = {t.path for t in found.targets if t.explicit}
    linked_from_compose = set(jobs)
    for path in direct:
        # A Dockerfile that a compose service builds is checked with that service's build args
        # only; reading it again without them would report variables compose does supply.
        if path in jobs:
            continue
        # Named alone (pre-commit passes only changed files): a compose file beside it or above
        # it may build it; use that service's build args, without reporting on the compose file.
        links = _builders_of(path, cwd, builds_of, confine) if path in explicit else []
        for link in links:
            add_job(path, link, None)
        if not links:
            jobs[path] = [(dict(config.build_args), None, default_platform, ())]

    for path, variants in jobs.items():
        shown = show(path)
        if confine is not None and not confine.contains(os.fspath(path)):
            continue  # reported where it is named (compose) or found (discovery); never opened
        try:
            text = read_text(path)
        except InputError as exc:
            links = builders.get(path, [])
            if links and not path.exists():
                by_file: dict[str, list[BuildLink]] = {}
                for link in links:
                    by_file.setdefault(link.location.path, []).append(link)
                for compose_path, file_links in by_file.items():  # one finding per compose file
                    owner = documents.get(compose_path)  # its inline suppressions cover the line
                    suppressions = owner.suppressions if owner is not None else Suppressions()
                    problem = _missing_dockerfile(file_links, shown, show)
                    extra.append(Document(compose_path, "compose", problems=(problem,), suppressions=suppressions))
            else:
                extra.append(_unreadable(shown, exc))
            continue
        if path in explicit and path not in linked_from_compose and classify(path.name) is None:
            if not looks_like_dockerfile(text):  # `preflight check README.md`
                message = "not a Dockerfile or compose file (name Dockerfiles Dockerfile, *.Dockerfile or Dockerfile.*)"
                extra.append(Document(shown, "unknown", problems=(Problem("PF001", Location(shown), message),)))
                continue
        for args, where, platform, contexts in variants:
            # --build-context / build-contexts: a docker-image:// value is checked at the FROM that
            # names it; compose's additional_contexts win and are reported where compose writes them.
            named: dict[str, str | None] = {**cli_contexts, **dict.fromkeys(contexts)}
            doc = parse_dockerfile(text, shown, build_args=args, target_platform=platform, named_contexts=named)
            key = shown if shown not in documents else f"{shown}\0{sorted(args.items())}\0{contexts}"
            documents.setdefault(key, doc)
            if where is not None:
                built_by.setdefault(key, set()).add(where.path)
    return Loaded(project_images(documents, built_by) + tuple(extra), _repo_root(cwd))


def _missing_dockerfile(links: Sequence[BuildLink], shown: str, show: Callable[[Path], str]) -> Problem:
    """One finding for a missing Dockerfile, however many services of one compose file build it:
    at the first service's ``build:``, naming every service and where the path was looked for."""
    services = list(dict.fromkeys(f'"{link.service}"' for link in links))
    first = links[0].location
    if len(services) == 1:
        who = f"service {services[0]} builds"
    else:
        shown_services = ", ".join(services[:5]) + (f" and {len(services) - 5} more" if len(services) > 5 else "")
        who = f"{len(services)} services build ({shown_services})"
    base = show(Path(first.path).parent) if first.path else "."
    return Problem(
        "PF001",
        first,
        f"the Dockerfile that {who} does not exist: {shown} (build paths are relative to the compose"
        f" file's directory, {base or '.'}/; is this file meant to be copied elsewhere?)",
    )


def project_images(documents: Mapping[str, Document], built_by: Mapping[str, set[str]]) -> tuple[Document, ...]:
    """Uses of an image that a compose service builds (``build:`` with that ``image:``) are
    produced by the project, not pulled: within that compose file and the Dockerfiles its services
    build, mark them (``pull=False``, ``built_by``) so no registry is asked and PF106 names the
    service. The match is by normalized reference; other projects in the same run are not affected."""
    built: dict[str, dict[str, ImageUse]] = {}  # compose file -> canonical reference -> the building use
    for key, doc in documents.items():
        for use in doc.uses:
            if use.kind is UseKind.COMPOSE and not use.pull and use.service is not None:
                ref = subject_for(use).ref
                if ref is not None:
                    built.setdefault(key, {}).setdefault(ref.canonical, use)
    if not built:
        return tuple(documents.values())

    def mark(use: ImageUse, projects: list[dict[str, ImageUse]]) -> ImageUse:
        ref = subject_for(use).ref if use.pull else None
        if ref is None:
            return use
        for project in projects:
            builder = project.get(ref.canonical)
            if builder is not None:
                where = f'service "{builder.service}" in {builder.location.path}:{builder.location.line}'
                return replace(use, pull=False, built_by=where)
        return use

    out: list[Document] = []
    for key, doc in documents.items():
        projects = [built[c] for c in sorted({key, *built_by.get(key, ())}) if c in built]
        out.append(replace(doc, uses=tuple(mark(u, projects) for u in doc.uses)) if projects else doc)
    return tuple(out)


def _builders_of(
    dockerfile: Path,
    cwd: Path,
    builds_of: Callable[[Path], Sequence[BuildLink]],
    confine: Confinement | None = None,
) -> list[BuildLink]:
    """Build links to ``dockerfile`` from compose files in its directory or a parent (up to the
    working directory, or the file's own directory when it lies outside it; never above a
    project root when confined)."""
    from .discover import classify

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


def _unreadable(path: str, exc: InputError) -> Document:
    loc = Location(path, exc.line, exc.column)
    return Document(path, "unknown", problems=(Problem("PF001", loc, f"cannot read {path}: {exc.message}"),))


def _repo_root(cwd: Path) -> str:
    """The git work tree's top level, found by walking up for ``.git`` (no subprocess)."""
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return str(d)
    return str(cwd)


def uses_of(documents: Iterable[Document]) -> list[ImageUse]:
    return [u for d in documents for u in d.uses]


def lookups_for(documents: Iterable[Document], config: Config) -> list:
    """Unique pullable references with the platforms each must provide."""
    from .registry import (
        Lookup,  # network code: only imported when the registry is asked
    )

    wanted: dict[str, tuple] = {}
    for use in uses_of(documents):
        subject = subject_for(use)
        if not use.pull or subject.ref is None:
            continue
        platforms = set(required_platforms(use, config.platforms))
        key = subject.ref.canonical
        ref, known = wanted.get(key, (subject.ref, frozenset()))
        wanted[key] = (ref, known | frozenset(platforms))
    return [Lookup(ref, platforms) for ref, platforms in wanted.values()]


def check(
    loaded: Loaded,
    config: Config,
    *,
    environ: Mapping[str, str],
    use_cache: bool = True,
    use_credentials: bool = True,
    strict_loopback: bool = False,
    allow_hosts: tuple[str, ...] = (),
    untrusted: bool = False,
    progress: Progress | None = None,
) -> tuple[Report, tuple[str, ...]]:
    """Evaluate the rules; ask registries first unless offline. Returns (report, warnings)."""
    checked = check_with_facts(
        loaded,
        config,
        environ=environ,
        use_cache=use_cache,
        use_credentials=use_credentials,
        strict_loopback=strict_loopback,
        allow_hosts=allow_hosts,
        untrusted=untrusted,
        progress=progress,
    )
    return checked.report, checked.warnings


@dataclass(frozen=True)
class Checked:
    report: Report
    warnings: tuple[str, ...]
    facts: Mapping[str, ImageFacts]  # what the registry step learned, keyed by ImageRef.canonical
    # looks further references up with the same settings (None when the registries were not asked)
    lookup: Callable[[Sequence[ImageRef]], Mapping[str, ImageFacts]] | None = None


def check_with_facts(
    loaded: Loaded,
    config: Config,
    *,
    environ: Mapping[str, str],
    use_cache: bool = True,
    use_credentials: bool = True,
    strict_loopback: bool = False,
    allow_hosts: tuple[str, ...] = (),
    untrusted: bool = False,
    progress: Progress | None = None,
    registry: bool = False,
) -> Checked:
    """``check``, also returning the registry facts; ``registry`` asks the registries even when no
    selected rule needs them (``preflight fix``).

    ``untrusted`` here is the address guard's mode; the project's own trust-lowering settings were
    already dropped when the configuration was loaded (``load_config(untrusted=True)``), which alone
    can tell the user's settings from the project's."""
    selection = selection_of(config)
    documents = loaded.documents
    images = len(uses_of(documents))
    options = RuleOptions(trusted_registries=config.trusted_registries, platforms=config.platforms, untrusted=untrusted)
    if config.offline or not (registry or needs_registry(selection)):
        summary = Summary(files=_file_count(documents), images=images, offline=True)
        return Checked(evaluate(documents, selection, RuleContext(options), summary, loaded.root), (), {})

    from .registry import Settings, resolve

    lookups = lookups_for(documents, config)
    engine = _survey_engine(lookups, config, environ)
    settings = Settings(
        config=config,
        environ=environ,
        use_cache=use_cache,
        use_credentials=use_credentials,
        strict_loopback=strict_loopback,
        progress=progress,
        allow_hosts=allow_hosts,
        untrusted=untrusted,
        daemon=_engine_registry_settings(engine),
    )
    resolution = resolve(lookups, settings)

    def lookup(refs: Sequence[ImageRef]) -> Mapping[str, ImageFacts]:
        return resolve(_plain_lookups(refs), settings).facts

    answered = sum(1 for f in resolution.facts.values() if f.status not in _NO_ANSWER)
    summary = Summary(
        files=_file_count(documents),
        images=images,
        references_checked=answered,
        requests=resolution.requests,
        cache_hits=resolution.cache_hits,
        dockerhub_remaining=resolution.dockerhub_remaining,
        not_checked=len(resolution.facts) - answered,
        offline=False,
    )
    ctx = RuleContext(options, resolution.facts, engine.facts if engine is not None else None)
    report = evaluate(documents, selection, ctx, summary, loaded.root)
    engine_warnings = engine.warnings if engine is not None else ()
    return Checked(report, engine_warnings + resolution.warnings, resolution.facts, lookup)


def _survey_engine(lookups: Sequence[Lookup], config: Config, environ: Mapping[str, str]) -> Survey | None:
    """The local engine's view of the references (None when none were looked up)."""
    if not lookups:
        return None
    from .localengine import survey

    return survey([lk.ref.canonical for lk in lookups], environ, config.engine, config.timeout)


def _engine_registry_settings(engine: Survey | None) -> DaemonConfig | None:
    if engine is None:
        return None
    from .localengine import registry_settings

    return registry_settings(engine)


# Lookups that ended without the registry's answer about the image: they count as not checked.
_NO_ANSWER = frozenset(
    {Status.NOT_CHECKED, Status.REGISTRY_ERROR, Status.RATE_LIMITED, Status.INTERNAL_ERROR}
    | {s for s in Status if s.unreachable}
)


def _plain_lookups(refs: Sequence[ImageRef]) -> list:
    from .registry import Lookup

    return [Lookup(ref) for ref in {r.canonical: r for r in refs}.values()]


def _file_count(documents: Iterable[Document]) -> int:
    return len({d.path for d in documents if d.kind != "directory"})


def check_paths(
    paths: Sequence[str],
    config: Config,
    *,
    cwd: Path,
    environ: Mapping[str, str] | None = None,
    offline: bool = True,
) -> Report:
    """Convenience for tests and embedding: load and check in one call."""
    env = dict(os.environ if environ is None else environ)
    cfg = replace(config, offline=config.offline or offline)
    report, _ = check(load(paths, cfg, cwd=cwd, environ=env), cfg, environ=env)
    return report
