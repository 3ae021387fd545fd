"""The stages of one run, from paths on disk to a Report, each a function of frozen values:

discover (``builds.discover_files``) -> plan builds (``builds.plan_builds``) -> read (``read_files``)
-> resolve (``resolve.resolve``) -> facts (``gather_facts``: local engine, registries) -> evaluate
(``engine.evaluate``) -> render (``report.render``, called by the command line).

``load`` runs the stages up to resolve, ``check`` the rest. The only imperative step is the optional
registry and engine lookup, imported lazily so offline runs never import network code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .builds import BuildPlan, Scope, discover_files, plan_builds
from .config import Config
from .engine import RuleContext, RuleOptions, Selection, evaluate, needs_registry
from .filekinds import classify
from .imageref import ImageRef
from .model import (
    DOCKER_IMAGE_CONTEXT,
    BuildLink,
    Document,
    Location,
    Problem,
    Report,
    Summary,
    Suppressions,
)
from .resolve import Read, Resolved, resolve
from .status import Status
from .textfile import InputError, read_text

if TYPE_CHECKING:
    from .facts import Download, EngineFacts, ImageFacts
    from .localengine import Survey
    from .registry import Lookup
    from .registry.endpoints import DaemonConfig

Progress = Callable[[int, int, str], None]


def selection_of(config: Config) -> Selection:
    return Selection(
        select=config.select, extend_select=config.extend_select, ignore=config.ignore, levels=config.levels
    )


def load(
    paths: Sequence[str], config: Config, *, cwd: Path, environ: Mapping[str, str], untrusted: bool = False
) -> Resolved:
    """Find, read and resolve every Dockerfile and compose file under ``paths``.

    ``untrusted``: files may only make preflight open files inside the project roots, and compose
    interpolation sees only the environment variables named in ``config.allow_env``
    (``preflight.confine``).
    """
    scope = Scope.of(paths, config, cwd, environ, untrusted)
    return resolve(read_files(plan_builds(discover_files(scope))), config.platforms)


# ----------------------------------------------------------------- read


def read_files(plan: BuildPlan) -> Read:
    """The read stage: every Dockerfile of the plan, once per distinct reading (compose files
    were read when the builds were planned)."""
    from .dockerfile import parse_dockerfile

    scope = plan.discovered.scope
    documents: dict[str, Document] = dict(plan.compose)
    built_by: dict[str, set[str]] = {}
    problems = list(plan.discovered.problems)
    cli_contexts = _cli_contexts(scope.config)
    for path, jobs in plan.jobs.items():
        shown = scope.show(path)
        text, unread = _dockerfile_text(path, shown, plan)
        problems += unread
        if text is None:
            continue
        for job in jobs:
            # --build-context / build-contexts: a docker-image:// value is checked at the FROM that
            # names it; compose's additional_contexts win and are reported where compose writes them.
            named: dict[str, str | None] = {**cli_contexts, **dict.fromkeys(job.contexts)}
            doc = parse_dockerfile(text, shown, build_args=job.args, target_platform=job.platform, named_contexts=named)
            key = shown if shown not in documents else f"{shown}\0{sorted(job.args.items())}\0{job.contexts}"
            documents.setdefault(key, doc)
            if job.linked_from is not None:
                built_by.setdefault(key, set()).add(job.linked_from.path)
    frozen = {key: frozenset(files) for key, files in built_by.items()}
    return Read(documents, frozen, tuple(problems), _repo_root(scope.cwd))


def _cli_contexts(config: Config) -> dict[str, str | None]:
    return {
        name: value[len(DOCKER_IMAGE_CONTEXT) :] if value.lower().startswith(DOCKER_IMAGE_CONTEXT) else None
        for name, value in config.build_contexts.items()
    }


def _dockerfile_text(path: Path, shown: str, plan: BuildPlan) -> tuple[str | None, tuple[Document, ...]]:
    """The Dockerfile's text, or None with the problem documents that say why it is not read."""
    confine = plan.discovered.scope.confine
    if confine is not None and not confine.contains(os.fspath(path)):
        return None, ()  # reported where it is named (compose) or found (discovery); never opened
    try:
        text = read_text(path)
    except InputError as exc:
        links = plan.builders.get(path, ())
        if links and not path.exists():
            return None, _missing_dockerfile(links, shown, plan)
        return None, (_unreadable(shown, exc),)
    if path in plan.unlinked and classify(path.name) is None:  # named on the command line: `preflight check README.md`
        from .dockerfile import looks_like_dockerfile

        if not looks_like_dockerfile(text):
            message = "not a Dockerfile or compose file (name Dockerfiles Dockerfile, *.Dockerfile or Dockerfile.*)"
            return None, (Document(shown, "unknown", problems=(Problem("PF001", Location(shown), message),)),)
    return text, ()


def _missing_dockerfile(links: Sequence[BuildLink], shown: str, plan: BuildPlan) -> tuple[Document, ...]:
    """One finding per compose file for a missing Dockerfile, however many of its services build
    it: at the first service's ``build:``, naming every service and where the path was looked for.
    The compose file's inline suppressions cover the line."""
    by_file: dict[str, list[BuildLink]] = {}
    for link in links:
        by_file.setdefault(link.location.path, []).append(link)
    out: list[Document] = []
    for compose_path, file_links in by_file.items():
        owner = plan.compose.get(compose_path)
        suppressions = owner.suppressions if owner is not None else Suppressions()
        problem = _missing_problem(file_links, shown, plan.discovered.scope)
        out.append(Document(compose_path, "compose", problems=(problem,), suppressions=suppressions))
    return tuple(out)


def _missing_problem(links: Sequence[BuildLink], shown: str, scope: Scope) -> Problem:
    services = list(dict.fromkeys(f'"{link.service}"' for link in links))
    first = links[0].location
    if len(services) == 1:
        who = f"service {services[0]} builds"
    else:
        shown_services = ", ".join(services[:5]) + (f" and {len(services) - 5} more" if len(services) > 5 else "")
        who = f"{len(services)} services build ({shown_services})"
    base = scope.show(Path(first.path).parent) if first.path else "."
    return Problem(
        "PF001",
        first,
        f"the Dockerfile that {who} does not exist: {shown} (build paths are relative to the compose"
        f" file's directory, {base or '.'}/; is this file meant to be copied elsewhere?)",
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


# ----------------------------------------------------------------- facts


@dataclass(frozen=True)
class RunOptions:
    """The knobs of one check run beside the configuration.

    ``untrusted`` here is the address guard's mode; the project's own trust-lowering settings were
    already dropped when the configuration was loaded (``load_config(untrusted=True)``), which alone
    can tell the user's settings from the project's."""

    environ: Mapping[str, str] = field(default_factory=dict)
    use_cache: bool = True
    use_credentials: bool = True
    strict_loopback: bool = False
    allow_hosts: tuple[str, ...] = ()
    untrusted: bool = False
    progress: Progress | None = None
    registry: bool = False  # ask the registries even when no selected rule needs them (preflight fix)


@dataclass(frozen=True)
class Facts:
    """What the facts stage learned: registry facts keyed by ``ImageRef.canonical``, the local
    engine's, the run's summary and warnings."""

    registry: Mapping[str, ImageFacts]
    engine: EngineFacts | None
    summary: Summary
    warnings: tuple[str, ...] = ()
    # looks further references up with the same settings (None when the registries were not asked)
    lookup: Callable[[Sequence[ImageRef]], Mapping[str, ImageFacts]] | None = None


def lookups_for(loaded: Resolved) -> list[Lookup]:
    """Unique pullable references with the platforms each must provide."""
    from .registry import Lookup  # network code: only imported when the registry is asked

    wanted: dict[str, tuple[ImageRef, frozenset[str]]] = {}
    for subject in loaded.all_subjects():
        if not subject.use.pull or subject.ref is None:
            continue
        key = subject.ref.canonical
        ref, known = wanted.get(key, (subject.ref, frozenset()))
        wanted[key] = (ref, known | frozenset(subject.platforms))
    return [Lookup(ref, platforms) for ref, platforms in wanted.values()]


def offline_facts(loaded: Resolved) -> Facts:
    return Facts({}, None, Summary(files=_file_count(loaded.documents), images=_image_count(loaded), offline=True))


def gather_facts(loaded: Resolved, config: Config, options: RunOptions) -> Facts:
    """The facts stage: ask the local engine, then the registries (with the engine's registry
    settings), about every pulled reference."""
    from .registry import Settings, resolve

    lookups = lookups_for(loaded)
    engine = _survey_engine(lookups, config, options.environ)
    settings = Settings(
        config=config,
        environ=options.environ,
        use_cache=options.use_cache,
        use_credentials=options.use_credentials,
        strict_loopback=options.strict_loopback,
        progress=options.progress,
        allow_hosts=options.allow_hosts,
        untrusted=options.untrusted,
        daemon=_engine_registry_settings(engine),
    )
    resolution = resolve(lookups, settings)

    def lookup(refs: Sequence[ImageRef]) -> Mapping[str, ImageFacts]:
        return resolve(_plain_lookups(refs), settings).facts

    answered = sum(1 for f in resolution.facts.values() if f.status not in _NO_ANSWER)
    summary = Summary(
        files=_file_count(loaded.documents),
        images=_image_count(loaded),
        references_checked=answered,
        requests=resolution.requests,
        cache_hits=resolution.cache_hits,
        dockerhub_remaining=resolution.dockerhub_remaining,
        not_checked=len(resolution.facts) - answered,
        offline=False,
    )
    engine_facts = engine.facts if engine is not None else None
    engine_warnings = engine.warnings if engine is not None else ()
    return Facts(resolution.facts, engine_facts, summary, engine_warnings + resolution.warnings, lookup)


def _survey_engine(lookups: Sequence[Lookup], config: Config, environ: Mapping[str, str]) -> Survey | None:
    """The local engine's view of the references (None when none were looked up)."""
    if not lookups:
        return None
    from .localengine import survey

    return survey([lk.ref.canonical for lk in lookups], environ, config.engine, config.timeout, all_layers=config.deep)


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


def _plain_lookups(refs: Sequence[ImageRef]) -> list[Lookup]:
    from .registry import Lookup

    return [Lookup(ref) for ref in {r.canonical: r for r in refs}.values()]


def _file_count(documents: Iterable[Document]) -> int:
    return len({d.path for d in documents if d.kind != "directory"})


def _image_count(loaded: Resolved) -> int:
    return sum(len(subjects) for subjects in loaded.subjects)


# ----------------------------------------------------------------- check: facts, then evaluate


@dataclass(frozen=True)
class Checked:
    report: Report
    warnings: tuple[str, ...]
    facts: Mapping[str, ImageFacts]  # what the registry step learned, keyed by ImageRef.canonical
    # looks further references up with the same settings (None when the registries were not asked)
    lookup: Callable[[Sequence[ImageRef]], Mapping[str, ImageFacts]] | None = None


def check(loaded: Resolved, config: Config, options: RunOptions | None = None) -> Checked:
    """Evaluate the rules; ask the engine and the registries first unless offline or no selected
    rule needs them (``options.registry`` asks them anyway)."""
    options = options if options is not None else RunOptions()
    selection = selection_of(config)
    if config.offline or not (options.registry or needs_registry(selection)):
        facts = offline_facts(loaded)
    else:
        facts = gather_facts(loaded, config, options)
    rule_options = RuleOptions(config.rule_options, untrusted=options.untrusted)
    report = evaluate(loaded, selection, RuleContext(rule_options, facts.registry, facts.engine), facts.summary)
    if config.deep:
        report = replace(report, downloads=downloads(facts.registry))
    return Checked(report, facts.warnings, facts.registry, facts.lookup)


def downloads(facts: Mapping[str, ImageFacts]) -> tuple[Download, ...]:
    """``--deep``: each image's download size per platform walked, by reference then platform."""
    from .facts import Download  # only a --deep run lists downloads

    return tuple(
        Download(key, image.platform, image.download_size, len(image.layers))
        for key in sorted(facts)
        for image in sorted(facts[key].deep or (), key=lambda i: i.platform)
    )


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
    return check(load(paths, cfg, cwd=cwd, environ=env), cfg, RunOptions(environ=env)).report
