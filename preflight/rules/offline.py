"""Offline rules: input problems (PF0xx) and reference policy (PF1xx).

Each check is a pure function of one image use. PF001 is produced by the readers
(``Problem("PF001", ...)``) and only declared here so that it can be selected, documented and
configured like any other rule.

Images that are built rather than pulled (compose ``image:`` beside ``build:``, ``pull=False``)
get the syntax checks only (PF002, PF003): their name is chosen by the project, not looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..imageref import DEFAULT_DOMAIN, DOCKER_HUB_DOMAINS, HOST_PROBLEM_PREFIX, ImageRef
from ..model import Fix, ImageUse, Level, Location, UseKind, clip
from ..rulebook import Hit, RuleContext, Subject, declare, describe, rule
from ..settings import Setting, Trust, append, str_list
from ..suggest import osa_distance

_HUB_WEBSITE = "hub.docker.com"  # not a registry; in trusted-registries it means Docker Hub (rules/PF104.md)

declare(
    "PF001",
    "parse-error",
    "A file cannot be read or parsed; the other files are still checked.",
    Level.ERROR,
    tags=("input",),
)

declare(
    "PF004",
    "unused-suppression",
    "An inline suppression names no preflight rule, or suppresses nothing.",
    Level.NOTE,
    tags=("input",),
)


# ----------------------------------------------------------------- PF002


@rule(
    "PF002",
    "invalid-reference",
    "An image reference is not valid once its variables are resolved.",
    Level.ERROR,
    tags=("input",),
)
def invalid_reference(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    if subject.ref_error is None:
        return
    use = subject.use
    if _placeholder(use.resolved or use.written):
        yield Hit(
            f"{describe(use)} is not an image reference but a placeholder; replace it with the image"
            ' to build from, e.g. "python:3.12"'
        )
        return
    if subject.ref_error.startswith(HOST_PROBLEM_PREFIX):
        yield Hit(f"{describe(use)} cannot be looked up: {subject.ref_error}")
        return
    fix = _lowercase_fix(use) if "lowercase" in subject.ref_error else None
    if fix is not None:
        advice = f'write it in lower case: "{fix.replacement}"'
    else:
        advice = 'write it as [registry/]repository[:tag][@digest], e.g. "python:3.12"'
    yield Hit(
        f"{describe(use)} is not a valid image reference: {subject.ref_error}; {advice}",
        suggestions=(fix.replacement,) if fix is not None else (),
        fixes=(fix,) if fix is not None else (),
    )


_PLACEHOLDER_WORDS = re.compile(r"replace|change[-_]?me|your[-_]|todo|fixme|placeholder|<|>|\{\{", re.IGNORECASE)


def _placeholder(text: str) -> bool:
    """Template text rather than a mistyped reference: ``REPLACE-ME``, ``<your-image>``, ``YOUR_IMAGE``.

    An all-capitals name (no lower-case letter before the tag) or a template word; ``MyOrg/App``
    or ``Python:3.12`` still get the lower-case suggestion.
    """
    head = text.split("@", 1)[0]
    name = head[: head.rfind(":")] if head.rfind(":") > head.rfind("/") else head
    path = name.split("/", 1)[1] if "/" in name and ("." in name.split("/")[0] or ":" in name.split("/")[0]) else name
    letters = [c for c in path if c.isalpha()]
    all_capitals = len(letters) >= 2 and not any(c.islower() for c in letters)
    return all_capitals or bool(_PLACEHOLDER_WORDS.search(text))


def _lowercase_fix(use: ImageUse) -> Fix | None:
    """Lower-case the repository part, when the use has no variables and its span is known."""
    if use.resolved != use.written or not _span_is_text(use.location, use.written):
        return None
    text = use.written
    head, sep, digest = text.partition("@")
    slash = head.rfind("/")
    colon = head.rfind(":")
    name, tag = (head[:colon], head[colon:]) if colon > slash else (head, "")
    first, _, rest = name.partition("/")
    # A first component with '.' / ':' or "localhost" is a registry host: keep its case.
    if rest and ("." in first or ":" in first or first == "localhost"):
        fixed_name = f"{first}/{rest.lower()}"
    else:
        fixed_name = name.lower()
    fixed = fixed_name + tag + sep + digest
    if fixed == text:
        return None
    return Fix("lower-case the repository name", use.location, fixed)


def _span_is_text(loc: Location, text: str) -> bool:
    return loc.end_column is not None and loc.end_line in (None, loc.line) and loc.end_column - loc.column == len(text)


# ----------------------------------------------------------------- PF003


@rule(
    "PF003",
    "unresolved-variable",
    "A variable in an image reference has no value and no default.",
    Level.WARNING,
    tags=("input",),
)
def unresolved_variable(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    use = subject.use
    if use.unresolved:
        names = ", ".join(f"${n}" for n in use.unresolved)
        noun = "variable" if len(use.unresolved) == 1 else "variables"
        verb = "has" if len(use.unresolved) == 1 else "have"
        yield Hit(
            f'{noun} {names} in "{clip(use.written)}" {verb} no value and no default, so the image'
            f" cannot be checked; {_how_to_set(use, use.unresolved[0], ctx.options.untrusted)}"
        )
    for error in use.var_errors:
        name, _, detail = error.partition(": ")
        how = _how_to_set(use, name, ctx.options.untrusted, required=True)
        yield Hit(f'"{clip(use.written)}" requires ${name}: {detail}; {how}')


def _how_to_set(use: ImageUse, name: str, untrusted: bool, *, required: bool = False) -> str:
    """Where a value can come from; a required variable (``${V:?msg}``) gets no default advice."""
    default = "" if required else f", or write ${{{name}:-<default>}}"
    if use.kind is UseKind.COMPOSE and untrusted:
        return f"set {name} in .env (--untrusted reads the environment only for --allow-env {name}){default}"
    if use.kind is UseKind.COMPOSE:
        return f"set {name} in the environment or in .env{default}"
    where = " before the first FROM" if use.kind is UseKind.FROM else ""
    if required:
        return f"pass --build-arg {name}=<value> or give ARG {name} a value{where}"
    return f"pass --build-arg {name}=<value>, declare ARG {name}=<default>{where}{default}"


# ----------------------------------------------------------------- PF1xx


def _pulled(subject: Subject) -> ImageRef | None:
    """The parsed reference of an image that is pulled (not built, not ``scratch``)."""
    ref = subject.ref
    if ref is None or not subject.use.pull:
        return None
    if ref.domain == DEFAULT_DOMAIN and ref.path == "library/scratch" and ref.tag is None and ref.digest is None:
        return None  # FROM scratch is no image
    return ref


@rule(
    "PF101",
    "missing-tag",
    "An image has neither a tag nor a digest, so it silently means latest.",
    Level.WARNING,
    tags=("reproducibility",),
)
def missing_tag(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    ref = _pulled(subject)
    if ref is None or ref.tag is not None or ref.digest is not None or stage_mistake(subject.use) is not None:
        return  # a mistyped stage name is PF105's: "add a tag" would point at the wrong fix
    yield Hit(
        f'{describe(subject.use)} has no tag, so it means "{ref.familiar_name}:latest", which'
        f" changes whenever a new version is pushed; add a version tag:"
        f' "{ref.familiar_name}:<version>"'
    )


@rule(
    "PF102",
    "latest-tag",
    "An image uses the latest tag without a digest.",
    Level.WARNING,
    tags=("reproducibility",),
)
def latest_tag(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    ref = _pulled(subject)
    if ref is None or ref.tag != "latest" or ref.digest is not None:
        return
    yield Hit(
        f'{describe(subject.use)} uses the "latest" tag, which changes whenever a new version'
        f' is pushed; use a version tag instead: "{ref.familiar_name}:<version>"'
    )


@rule(
    "PF103",
    "unpinned-digest",
    "An image is not pinned by digest.",
    Level.OFF,
    tags=("reproducibility", "security"),
)
def unpinned_digest(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    ref = _pulled(subject)
    if ref is None or ref.digest is not None:
        return
    shown = ref.familiar
    if ref.tag is None:
        shown += ":latest"
    yield Hit(
        f"{describe(subject.use)} is not pinned by digest, so the same text can pull a different"
        f' image tomorrow; pin it as "{shown}@sha256:<digest>"'
        f" (docker buildx imagetools inspect {shown} prints the digest)"
    )


TRUSTED_REGISTRIES: Setting[tuple[str, ...]] = Setting(
    "trusted-registries",
    str_list,
    Trust.PROJECT,
    "a policy check (PF104); it sends nothing anywhere",
    combine=append,
    default=(),
)


@rule(
    "PF104",
    "untrusted-registry",
    "An image comes from a registry that is not in trusted-registries.",
    Level.ERROR,
    tags=("security",),
    options=(TRUSTED_REGISTRIES,),
)
def untrusted_registry(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    allowed = ctx.options[TRUSTED_REGISTRIES]
    ref = _pulled(subject)
    if not allowed or ref is None or is_trusted(ref.domain, allowed):
        return
    registry = _registry_name(ref.domain)
    listed = ", ".join(allowed)
    yield Hit(
        f'{describe(subject.use)} comes from registry "{registry}", which is not in'
        f" trusted-registries ({listed}); use an image from a trusted registry"
        f' or add "{registry}" to trusted-registries'
    )


def is_trusted(domain: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``domain`` matches one of the trusted-registries patterns.

    ``*`` matches any run of characters (``*.gcr.io``, ``registry.example.com*``, ``*``);
    Docker Hub's registry names all count as ``docker.io``, and so does ``hub.docker.com`` in the
    list (the website's name, which people write there); comparison ignores case.
    """
    name = _registry_name(domain)
    return any(_pattern(p).fullmatch(name) for p in patterns if p.strip())


def _registry_name(domain: str) -> str:
    low = domain.lower()
    return DEFAULT_DOMAIN if low in DOCKER_HUB_DOMAINS else low


def _pattern(text: str) -> re.Pattern[str]:
    text = text.strip().rstrip("/")
    text = DEFAULT_DOMAIN if text.lower() == _HUB_WEBSITE else _registry_name(text)
    return re.compile(".*".join(re.escape(part) for part in text.split("*")))


# ----------------------------------------------------------------- PF105

_STAGE_USES = frozenset({UseKind.FROM, UseKind.COPY_FROM, UseKind.MOUNT_FROM})
_BARE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@rule(
    "PF105",
    "stage-name-typo",
    "A FROM or --from name is not a stage of the file but close to one, so the build pulls an image instead.",
    Level.ERROR,
    tags=("input",),
)
def stage_name_typo(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    mistake = stage_mistake(subject.use)
    if mistake is None:
        return
    name, stage, later = mistake
    pulled = f"docker.io/library/{name.lower()}:latest"
    if later:
        what = f'"{name}" names the stage "{stage}", which is defined later in this Dockerfile (FROM sees only earlier stages)'
        advice = "move that stage above this one."
    else:
        what = f'"{name}" is not a stage of this Dockerfile'
        advice = f'did you mean "{stage}"?'
    fixes: tuple[Fix, ...] = ()
    if not later and subject.use.written == name and _span_is_text(subject.use.location, name):
        fixes = (Fix(f'use the stage "{stage}"', subject.use.location, stage),)
    yield Hit(
        f"{what}; {advice} As written, the build pulls {pulled}", suggestions=() if later else (stage,), fixes=fixes
    )


def stage_mistake(use: ImageUse) -> tuple[str, str, bool] | None:
    """(name as resolved, the stage it was probably meant to be, whether that stage comes later).

    Only a bare name (no registry, path, tag or digest) can be a stage name. It is a mistake when
    it names a stage that a FROM cannot see yet (defined further down), or when it is close to a
    stage the use can refer to: the last ``-``/``_``/``.`` component of that stage's name
    (``set`` for ``license-set``), or one edit away from it (``runtme``). A leading component is
    not enough: ``FROM node AS node-build`` and ``COPY --from=node`` beside a ``node-build``
    stage name the image ``node``, as stages are often named after their base image.
    """
    name = use.resolved
    if use.kind not in _STAGE_USES or name is None or not _BARE_NAME.fullmatch(name):
        return None
    folded = name.lower()
    if folded in use.later_stages:
        return (name, folded, True)
    for stage in use.stages:
        if stage.endswith(folded) and stage[-len(folded) - 1 : -len(folded)] in ("-", "_", "."):
            return (name, stage, False)
    for stage in use.stages:
        if len(folded) >= 4 and osa_distance(folded, stage, limit=1) <= 1:
            return (name, stage, False)
    return None


# ----------------------------------------------------------------- PF106


@rule(
    "PF106",
    "project-built-image",
    "An image is built by a compose service of the project, so it is not pulled and not looked up.",
    Level.NOTE,
    tags=("input",),
)
def project_built_image(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    use = subject.use
    if use.built_by is None:
        return
    yield Hit(
        f"{describe(use)} is built by this project ({use.built_by}), not pulled, so no registry is asked"
        " about it; build that service first (docker compose build) or this build pulls it instead"
    )
