"""From documents, findings and registry facts to exact edits (pure: the file texts are given).

For every image use the wanted change is worked out on the *resolved* reference (a tag corrected,
``@sha256:…`` appended, a pinned digest replaced); ``place`` finds where its characters are written,
or lists the reference with the reason it cannot be edited.

Every use at one place must agree on one edit (a Dockerfile read with several sets of build
args, a compose anchor used by several services); otherwise the place is listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..engine import with_facts
from ..facts import ImageFacts, Status
from ..imageref import ImageRef, ReferenceError
from ..model import Document, ImageUse, Location, Report
from ..resolve import Resolved, Subject
from . import policy
from .changes import DIGEST, PIN, TYPO, Change, Listed, Plan, Want
from .edits import Edit, Source
from .place import place

# Statuses for which the registry gave no answer about the image: such references are errors for fix.
NO_ANSWER = frozenset(
    {Status.NOT_CHECKED, Status.REGISTRY_ERROR, Status.RATE_LIMITED} | {s for s in Status if s.unreachable}
)


@dataclass(frozen=True)
class Options:
    pin: bool = False
    update_digests: bool = False
    typos: bool = True


def plan(
    loaded: Resolved,
    report: Report,
    facts: Mapping[str, ImageFacts],
    options: Options,
    sources: Mapping[str, Source | str],
) -> Plan:
    """Edits for the resolved documents; ``sources`` maps a display path to the file as read for editing
    (a path missing there, or mapped to the reason it cannot be edited, is not: its references are listed)."""
    found = {(f.rule, f.location.path, f.location.line, f.location.column) for f in report.findings}
    shared = _arg_users(loaded.documents)
    outcomes: dict[tuple[str, int, int], list[tuple[ImageUse, Change | Listed | None]]] = {}
    for doc, subjects in zip(loaded.documents, loaded.subjects, strict=True):
        for subject in subjects:
            use = subject.use
            key = (use.location.path, use.location.line, use.location.column)
            outcome = _outcome(doc, with_facts(subject, facts), facts, options, found, sources, shared)
            outcomes.setdefault(key, []).append((use, outcome))
    out = Plan()
    for results in outcomes.values():
        kinds = {_signature(r) for _, r in results}
        first = results[0][1]
        if len(kinds) == 1:
            if isinstance(first, Change):
                out.changes.append(first)
            elif isinstance(first, Listed):
                out.listed.append(first)
            continue
        listed = [r for _, r in results if isinstance(r, Listed)]
        if listed:
            out.listed.append(listed[0])
        else:
            use = results[0][0]
            out.listed.append(
                Listed(use.location, use.written, "it resolves differently where it is used (build args, projects)")
            )
    _drop_overlaps(out)
    return out


def corrected_references(plan: Plan) -> list[ImageRef]:
    """The references typo fixes write (``--pin`` looks them up to pin them in the same run)."""
    out: list[ImageRef] = []
    for change in plan.changes:
        if change.kind == TYPO:
            try:
                out.append(ImageRef.parse(change.after))
            except ReferenceError:
                continue
    return out


def _signature(r: Change | Listed | None) -> object:
    if isinstance(r, Change):
        return (r.path, r.edit)
    if isinstance(r, Listed):
        return ("listed", r.reason)
    return None


def _drop_overlaps(out: Plan) -> None:
    """Two different edits of the same characters (or overlapping ones): neither is applied."""
    kept: list[Change] = []
    for changes in out.by_path().values():
        unique = {c.edit: c for c in changes}
        ordered = sorted(unique.values(), key=lambda c: (c.edit.start, c.edit.end))
        bad: set[Edit] = set()
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.edit.start < a.edit.end or (a.edit.start == b.edit.start and a.edit.end == b.edit.end):
                bad |= {a.edit, b.edit}
        for c in changes:
            if c.edit in bad:
                out.listed.append(Listed(c.use, c.before, "two fixes would change the same characters"))
            else:
                kept.append(c)
    out.changes = kept


def _arg_users(docs: Iterable[Document]) -> dict[tuple[str, Location], set[Location]]:
    """ARG defaults (path, location) -> the reference places whose value they feed."""
    users: dict[tuple[str, Location], set[Location]] = {}
    for doc in docs:
        for use in doc.uses:
            for s in use.sources:
                if s.origin == "arg" and s.location is not None:
                    users.setdefault((doc.path, s.location), set()).add(use.location)
    return users


def _outcome(
    doc: Document,
    subject: Subject,
    facts: Mapping[str, ImageFacts],
    options: Options,
    found: set[tuple[str, str, int, int]],
    sources: Mapping[str, Source | str],
    shared: Mapping[tuple[str, Location], set[Location]],
) -> Change | Listed | None:
    use, ref, fact = subject.use, subject.ref, subject.facts
    if not use.pull or ref is None or fact is None or use.resolved is None:
        return None
    resolved = use.resolved
    loc = use.location
    if fact.status in NO_ANSWER:
        if options.pin or options.update_digests or options.typos:
            return Listed(loc, use.written, f"registry {fact.host} did not answer: {fact.detail}", error=True)
        return None
    want: Want | None = None
    has = (TYPO, loc.path, loc.line, loc.column) in found
    if options.typos and fact.status is Status.TAG_MISSING and has and ref.tag is not None:
        decision = policy.decide(ref.tag, fact.suggestions)
        if decision.replacement is None:
            return Listed(loc, use.written, f'tag "{ref.tag}" not corrected: {decision.reason}')
        if not resolved.endswith(":" + ref.tag):
            return Listed(loc, use.written, "the tag is not written at the end of the reference")
        after = resolved[: len(resolved) - len(ref.tag)] + decision.replacement
        description = f'tag "{ref.tag}" -> "{decision.replacement}"'
        corrected = facts.get(ref.with_tag(decision.replacement).canonical)
        if options.pin and corrected is not None and corrected.status is Status.OK and corrected.digest:
            after += "@" + corrected.digest
            description += f", pinned to {corrected.digest}"
        want = Want(TYPO, after, description)
    elif (
        options.update_digests
        and (DIGEST, loc.path, loc.line, loc.column) in found
        and ref.digest is not None
        and fact.tag_digest is not None
        and resolved.endswith("@" + ref.digest)
    ):
        after = resolved[: len(resolved) - len(ref.digest)] + fact.tag_digest
        want = Want(DIGEST, after, f'digest of tag "{ref.tag}" updated to {fact.tag_digest}')
    elif options.pin and ref.digest is None and fact.status is Status.OK:
        if doc.suppressions.covers("PF103", loc.line):
            return None
        if fact.digest is None:
            return Listed(loc, use.written, "the registry named no digest for it")
        if "@" in resolved:
            return None
        want = Want(PIN, f"{resolved}@{fact.digest}", f"pinned to {fact.digest}")
    if want is None:
        return None
    return place(doc, use, want, sources, shared)
