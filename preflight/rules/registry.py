"""Registry rules (PF2xx): what registries said about each pulled image.

Pure functions of ``subject.facts`` (filled by ``preflight.registry.resolve`` before the rules
run): no network here. A use that is not pulled (compose ``image:`` beside ``build:``) or was
not looked up has no facts and never fires. An unreachable registry is PF208, never "not
found"; a lookup that did not finish before the deadline is PF209, never a pass. The rules
that weigh the local engine's copy against these answers (PF210-PF212) are in ``rules.engine``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from ..imageref import ImageRef, is_digest, is_repository_path, is_tag
from ..model import Fix, Level, Location, clip
from ..platforms import normalize_platform, provides
from ..rulebook import Hit, RuleContext, Subject, rule
from ..status import Status

if TYPE_CHECKING:
    from ..facts import ImageFacts, LocalImage

TAGS = ("registry",)


def _facts(subject: Subject) -> tuple[ImageRef, ImageFacts] | None:
    if not subject.use.pull or subject.ref is None or subject.facts is None:
        return None
    return subject.ref, subject.facts


def _held(subject: Subject, ctx: RuleContext) -> LocalImage | None:
    """The local engine's copy of the image, when it holds one (then PF210/PF211 in ``rules.engine`` speak instead)."""
    if ctx.engine is None or subject.ref is None:
        return None
    return ctx.engine.holds(subject.ref.canonical)


def _registry_facts(subject: Subject, ctx: RuleContext) -> tuple[ImageRef, ImageFacts] | None:
    """``_facts`` for rules that predict a failed pull: none when the engine holds the image,
    since ``docker build`` then uses the local copy without asking the registry."""
    return None if _held(subject, ctx) is not None else _facts(subject)


def _image(subject: Subject) -> str:
    """`` (written "${BASE}")`` when the file spells the image with variables."""
    use = subject.use
    if use.resolved is not None and use.resolved != use.written:
        return f' (written "{clip(use.written)}")'
    return ""


def _unconfirmed(facts: ImageFacts) -> str:
    """`` (the docker.io mirror m answered; registry-1.docker.io could not confirm it: ...)`` for an
    answer that rests on a mirror alone."""
    return f" ({clip(facts.unconfirmed, 300)})" if facts.unconfirmed else ""


def _login_domain(ref: ImageRef) -> str:
    return "" if ref.is_docker_hub else f" {ref.domain}"


# ----------------------------------------------------------------- PF201


@rule(
    "PF201",
    "tag-not-found",
    "The repository exists but has no such tag.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def tag_not_found(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or found[1].status is not Status.TAG_MISSING:
        return
    ref, facts = found
    facts = replace(facts, suggestions=tuple(t for t in facts.suggestions if is_tag(t)))  # (a cache is a file)
    tag = ref.effective_tag or "latest"
    refs = tuple(_with_tag(subject, ref, t) for t in facts.suggestions)
    if ref.tag is None:
        head = (
            f'"{clip(subject.use.written)}" has no tag, so Docker pulls "latest", which does not exist in '
            f"{ref.name}{_image(subject)}"
        )
    else:
        head = f'tag "{tag}" not found in {ref.name}{_image(subject)}'
    if facts.suggestions:
        alternatives = ", ".join(f'"{t}"' for t in facts.suggestions[1:])
        tail = f'; did you mean "{facts.suggestions[0]}"?' + (f" (also close: {alternatives})" if alternatives else "")
    else:
        tail = "; no similar tag exists there (check the tags the publisher provides)"
    fixes: tuple[Fix, ...] = ()
    if ref.tag is not None:
        from ..fix.policy import decide  # the fix package loads only when a registry answered

        replacement = decide(ref.tag, facts.suggestions).replacement  # what `preflight fix` applies
        if replacement is not None:
            fixes = _tag_fix(subject, ref.tag, replacement)
    yield Hit(head + tail + _unconfirmed(facts), suggestions=refs, fixes=fixes)


def _with_tag(subject: Subject, ref: ImageRef, tag: str) -> str:
    """The suggested reference, in the user's own spelling when the tag is literal in it."""
    text = subject.use.resolved or ""
    if ref.tag is not None and ref.digest is None and text.endswith(":" + ref.tag):
        return text[: -len(ref.tag)] + tag
    return ref.with_tag(tag).familiar


def _tag_fix(subject: Subject, tag: str, replacement: str) -> tuple[Fix, ...]:
    """Replace the tag inside the written reference, when the file holds it literally."""
    use = subject.use
    loc = use.location
    written = use.written
    if loc.end_column is None or loc.end_line not in (None, loc.line) or loc.end_column - loc.column != len(written):
        return ()
    head = written.split("@", 1)[0]
    if not head.endswith(":" + tag) or "$" in head[head.rfind("/") + 1 :]:
        return ()
    start = loc.column + len(head) - len(tag)
    where = Location(loc.path, loc.line, start, loc.line, start + len(tag))
    return (Fix(f'use tag "{replacement}"', where, replacement),)


# ----------------------------------------------------------------- PF202


@rule(
    "PF202",
    "repository-not-found",
    "The registry has no repository of that name.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def repository_not_found(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or found[1].status is not Status.REPO_MISSING:
        return
    ref, facts = found
    paths = (path for path in facts.suggestions if is_repository_path(path))
    refs = tuple(ImageRef(ref.domain, path, ref.tag, ref.digest).familiar for path in paths)
    msg = f"repository {ref.name} not found{_image(subject)}"
    if refs:
        msg += f'; did you mean "{refs[0]}"?'
    else:
        msg += "; check the name and the registry"
    yield Hit(msg + _unconfirmed(facts), suggestions=refs)


# ----------------------------------------------------------------- PF203 / PF204


@rule(
    "PF203",
    "auth-required",
    "The registry wants credentials and none are configured.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def auth_required(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None:
        return
    ref, facts = found
    login = f"docker login{_login_domain(ref)}"
    if facts.status is Status.AUTH_REQUIRED:
        yield Hit(
            f"{ref.name} needs credentials{_image(subject)} and none are configured for {ref.domain}; "
            f"run {login} (or configure a credential helper)"
        )
    elif facts.status is Status.REPO_MISSING_OR_PRIVATE and facts.credential_source is None:
        yield Hit(
            f"{ref.name} does not exist, or it is private{_image(subject)}: the registry answers both "
            f"the same way to anonymous clients; check the name, or run {login} to check access"
        )


@rule(
    "PF204",
    "access-denied",
    "Credentials are configured but rejected, or lack pull access.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def access_denied(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None:
        return
    ref, facts = found
    source = facts.credential_source or "the configured credentials"
    if facts.status is Status.AUTH_FAILED:
        yield Hit(
            f"access to {ref.name} denied{_image(subject)}: {facts.detail}; renew the credentials from "
            f"{source} (docker login{_login_domain(ref)})"
        )
    elif facts.status is Status.REPO_MISSING_OR_PRIVATE and facts.credential_source is not None:
        yield Hit(
            f"{ref.name} does not exist, or the credentials from {source} have no pull access to it"
            f"{_image(subject)}; check the name and the account's permissions"
        )


# ----------------------------------------------------------------- PF205 / PF206


@rule(
    "PF205",
    "digest-not-found",
    "A pinned digest does not exist in the repository.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def digest_not_found(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or found[1].status is not Status.DIGEST_MISSING:
        return
    ref, facts = found
    yield Hit(
        f"digest {ref.digest} not found in {ref.name}{_image(subject)}; it was deleted, or pinned from "
        "another repository: pin a digest the repository has" + _unconfirmed(facts)
    )


@rule(
    "PF206",
    "digest-tag-mismatch",
    "A tag@digest reference whose tag now points to other content.",
    Level.NOTE,
    needs_registry=True,
    tags=TAGS,
)
def digest_tag_mismatch(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _facts(subject)
    if found is None:
        return
    ref, facts = found
    if facts.status is not Status.OK or ref.tag is None or ref.digest is None or not is_digest(facts.tag_digest):
        return
    if facts.tag_digest == ref.digest or ref.digest in facts.tag_children:
        return
    yield Hit(
        f'tag "{ref.tag}" of {ref.name} now points to {facts.tag_digest}, not to the pinned {ref.digest}'
        f"{_image(subject)}; Docker pulls the pinned digest: update the digest (or the tag) so the "
        "file says what is built",
        fixes=_digest_fix(subject, ref.digest, facts.tag_digest),
    )


def _digest_fix(subject: Subject, digest: str, replacement: str) -> tuple[Fix, ...]:
    """Replace the pinned digest inside the written reference, when the file holds it literally."""
    use = subject.use
    loc = use.location
    written = use.written
    if loc.end_column is None or loc.end_line not in (None, loc.line) or loc.end_column - loc.column != len(written):
        return ()
    if not written.endswith("@" + digest):
        return ()
    start = loc.column + len(written) - len(digest)
    where = Location(loc.path, loc.line, start, loc.line, start + len(digest))
    return (Fix(f"update the digest to {replacement}", where, replacement),)


# ----------------------------------------------------------------- PF207


@rule(
    "PF207",
    "platform-missing",
    "The image does not provide a required platform.",
    Level.ERROR,
    needs_registry=True,
    tags=TAGS,
)
def platform_missing(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _facts(subject)
    if found is None:
        return
    ref, facts = found
    if facts.status is not Status.OK or facts.platforms is None:
        return
    wanted = dict.fromkeys(normalize_platform(p) for p in subject.platforms)
    missing = [p for p in wanted if not provides(facts.platforms, p)]
    if not missing:
        return
    has = ", ".join(facts.platforms) or "no platform information"
    what = ", ".join(missing)
    yield Hit(f"{ref.familiar} has no {what} image{_image(subject)}; it provides {has}")


# ----------------------------------------------------------------- PF208 / PF209


def _references_on_host(ctx: RuleContext, facts: ImageFacts, statuses: frozenset[Status] | None) -> int:
    """References on the host that failed alike (those the engine holds are PF211 notes instead)."""
    return sum(
        1
        for key, f in ctx.facts.items()
        if f.host == facts.host
        and (f.status in statuses if statuses is not None else f.status.unreachable)
        and (ctx.engine is None or ctx.engine.holds(key) is None)
    )


@rule(
    "PF208",
    "registry-unreachable",
    "A registry cannot be reached (DNS, connection, TLS or proxy failure).",
    Level.WARNING,
    needs_registry=True,
    tags=TAGS,
)
def registry_unreachable(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or not found[1].status.unreachable:
        return
    _, facts = found
    yield Hit(f"registry {facts.host} unreachable ({_not_checked(ctx, facts, None)}): {facts.detail}", group=facts.host)


def _not_checked(ctx: RuleContext, facts: ImageFacts, statuses: frozenset[Status] | None) -> str:
    count = _references_on_host(ctx, facts, statuses)
    return f"{count} reference{'' if count == 1 else 's'} not checked"


_ERRORS = frozenset({Status.REGISTRY_ERROR, Status.RATE_LIMITED, Status.NOT_CHECKED, Status.INTERNAL_ERROR})


@rule(
    "PF209",
    "registry-error",
    "A registry answered with an error, rate-limited, or did not answer before the deadline.",
    Level.WARNING,
    needs_registry=True,
    tags=TAGS,
)
def registry_error(subject: Subject, ctx: RuleContext) -> Iterator[Hit]:
    found = _registry_facts(subject, ctx)
    if found is None or found[1].status not in _ERRORS:
        return
    ref, facts = found
    if facts.status is Status.INTERNAL_ERROR:  # one reference's own failure: reported at that reference
        yield Hit(f"{ref.familiar} was not checked: {facts.detail}")
        return
    count = _not_checked(ctx, facts, _ERRORS)
    if facts.status is Status.NOT_CHECKED:
        msg = f"registry {facts.host} did not answer in time ({count}): {facts.detail}; raise --timeout or retry"
    elif facts.status is Status.RATE_LIMITED:
        msg = f"registry {facts.host} rate limited ({count}): {facts.detail}"
    else:
        msg = f"registry {facts.host} error ({count}): {facts.detail}"
    yield Hit(msg, group=facts.host)
