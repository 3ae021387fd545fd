"""From documents, findings and registry facts to exact edits (pure: the file texts are given).

For every image use the wanted change is worked out on the *resolved* reference (a tag corrected,
``@sha256:…`` appended, a pinned digest replaced), narrowed to the characters that differ, and
mapped back to where those characters are written:

* a literal reference: inside the reference itself;
* the changed characters come from a variable: the default written in the reference
  (``${TAG:-1.0}`` with TAG unset) or the ARG default of a Dockerfile (``ARG PY=3.12``) that feeds
  this reference only; from anywhere else (build args, ``.env``, the environment, a value shared
  by several references, a computed ARG) the reference is listed with where its value comes from.

Every use at one place must agree on one edit (a Dockerfile read with several sets of build
args, a compose anchor used by several services); otherwise the place is listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..engine import with_facts
from ..facts import ImageFacts, Status
from ..imageref import ImageRef, ReferenceError
from ..model import Document, Finding, ImageUse, Location, Report, ValueSource, clip
from ..resolve import Resolved, Subject
from . import policy
from .edits import Edit, Source, narrow

PIN = "pin"
TYPO = "PF201"
DIGEST = "PF206"

# Statuses for which the registry gave no answer about the image: such references are errors for fix.
NO_ANSWER = frozenset(
    {Status.NOT_CHECKED, Status.REGISTRY_ERROR, Status.RATE_LIMITED} | {s for s in Status if s.unreachable}
)


@dataclass(frozen=True)
class Options:
    pin: bool = False
    update_digests: bool = False
    typos: bool = True


@dataclass(frozen=True)
class Change:
    """One edit of one file, and what it does."""

    kind: str  # PIN, TYPO or DIGEST
    path: str  # display path of the file edited
    edit: Edit
    location: Location  # of the replaced characters
    use: Location  # the reference it changes
    before: str  # the reference as resolved, before and after
    after: str
    description: str


@dataclass(frozen=True)
class Listed:
    """A reference that could be fixed but is not, and why."""

    location: Location
    image: str
    reason: str
    error: bool = False  # the registry did not answer: fix cannot know


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    listed: list[Listed] = field(default_factory=list)

    def by_path(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for c in self.changes:
            out.setdefault(c.path, []).append(c)
        return out


@dataclass(frozen=True)
class _Want:
    kind: str
    after: str  # the resolved reference wanted
    description: str


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
    want: _Want | None = None
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
        want = _Want(TYPO, after, description)
    elif (
        options.update_digests
        and (DIGEST, loc.path, loc.line, loc.column) in found
        and ref.digest is not None
        and fact.tag_digest is not None
        and resolved.endswith("@" + ref.digest)
    ):
        after = resolved[: len(resolved) - len(ref.digest)] + fact.tag_digest
        want = _Want(DIGEST, after, f'digest of tag "{ref.tag}" updated to {fact.tag_digest}')
    elif options.pin and ref.digest is None and fact.status is Status.OK:
        if doc.suppressions.covers("PF103", loc.line):
            return None
        if fact.digest is None:
            return Listed(loc, use.written, "the registry named no digest for it")
        if "@" in resolved:
            return None
        want = _Want(PIN, f"{resolved}@{fact.digest}", f"pinned to {fact.digest}")
    if want is None:
        return None
    return _place(doc, use, want, sources, shared)


# ----------------------------------------------------------------- where the characters are written

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR = re.compile(rf"\$(?:(?P<bare>{_NAME})|\{{(?P<name>{_NAME})(?:(?P<op>:?-)(?P<default>[^${{}}]*))?\}})")


@dataclass(frozen=True)
class _Var:
    start: int  # in the written text
    end: int
    name: str
    default_at: int | None  # offset of a written default in the written text


def _template(written: str, dockerfile: bool) -> list[_Var] | None:
    """The variable expressions of ``written`` when its literal parts are plain text; None when
    the text has syntax whose characters do not map one to one (quotes, escapes, ``$$``, ``${V:+a}``…)."""
    out: list[_Var] = []
    at = 0
    plain = re.compile(r"[^$'\"\\`]*" if dockerfile else r"[^$]*")
    while at < len(written):
        m = plain.match(written, at)
        assert m is not None
        at = m.end()
        if at >= len(written):
            break
        v = _VAR.match(written, at)
        if v is None:
            return None
        default = v.group("default")
        if default is not None and dockerfile and re.search(r"['\"\\`]", default):
            return None
        out.append(
            _Var(
                v.start(),
                v.end(),
                v.group("bare") or v.group("name"),
                v.start("default") if default is not None else None,
            )
        )
        at = v.end()
    return out


_ORIGINS = {
    "build-arg": "a build argument (--build-arg, compose build.args or build-args in the configuration)",
    "environment": "the environment",
    "env-file": "a .env file",
    "platform": "the build platform",
    "arg": "an ARG whose default is computed",
    "unset": "no value",
}


@dataclass(frozen=True)
class _Site:
    """A reference to edit: where its text starts in the file, and the characters of its resolved
    value that change (``resolved[a:b]`` becomes ``inserted``)."""

    path: str
    use: ImageUse
    want: _Want
    source: Source
    start: int
    a: int
    b: int
    inserted: str

    def change(self, start: int, end: int) -> Change:
        return _change(self.path, self.source, start, end, self.inserted, self.want, self.use)

    def listed(self, reason: str) -> Listed:
        return _listed(self.use, self.want, reason)


def _listed(use: ImageUse, want: _Want, reason: str) -> Listed:
    return Listed(use.location, use.written, f"{_verb(want.kind)} by hand: {reason}")


def _place(
    doc: Document,
    use: ImageUse,
    want: _Want,
    sources: Mapping[str, Source | str],
    shared: Mapping[tuple[str, Location], set[Location]],
) -> Change | Listed:
    source = sources.get(doc.path)
    if not isinstance(source, Source):
        return _listed(use, want, source or "the file cannot be edited")
    span = source.span(use.location)
    if span is None or source.text[span[0] : span[1]] != use.written:
        return _listed(
            use, want, "the reference is not written on one line as it reads (quoted with escapes, or continued)"
        )
    a, b, inserted = narrow(use.resolved or "", want.after)
    site = _Site(doc.path, use, want, source, span[0], a, b, inserted)
    variables = _template(use.written, doc.kind == "dockerfile")
    if variables is None:
        return site.listed("it is written with syntax whose characters fix cannot follow")
    if not variables:
        return site.change(site.start + a, site.start + b)
    return _place_with_variables(site, variables, shared)


def _place_with_variables(
    site: _Site, variables: list[_Var], shared: Mapping[tuple[str, Location], set[Location]]
) -> Change | Listed:
    """The changed characters in a reference written with variables: in its literal text, or in
    the one variable's value where this file writes it."""
    use, resolved, a, b = site.use, site.use.resolved or "", site.a, site.b
    for origin in use.sources:  # a value from outside the file: the right edit depends on it
        if origin.origin not in ("unset", "arg") or (origin.origin == "arg" and origin.location is None):
            return site.listed(f"${origin.name} gets its value from {_ORIGINS.get(origin.origin, origin.origin)}")
    first, last = variables[0], variables[-1]
    head = use.written[: first.start]
    tail = use.written[last.end :]
    if not resolved.startswith(head) or not resolved.endswith(tail) or len(resolved) < len(head) + len(tail):
        return site.listed("its variables do not read as expected")
    p, q = len(head), len(resolved) - len(tail)
    at_end = a == b == q == len(resolved) and not tail
    if a >= q and not at_end:  # in the literal text after the last variable
        start = site.start + last.end + (a - q)
        return site.change(start, start + (b - a))
    if b <= p and a < p:  # in the literal text before the first variable
        return site.change(site.start + a, site.start + b)
    if len(variables) > 1:
        return site.listed("the characters to change come from several variables")
    if not (p <= a and b <= q):
        return site.listed(f"the change spans ${first.name} and the text around it")
    return _place_in_value(site, first, p, resolved[p:q], shared)


def _place_in_value(
    site: _Site, var: _Var, p: int, value: str, shared: Mapping[tuple[str, Location], set[Location]]
) -> Change | Listed:
    """The change inside the value of ``var`` (which starts at ``p`` in the resolved reference):
    its default written in the reference, or the ARG default that feeds this reference only."""
    source, a, b = site.source, site.a, site.b
    origin = next((s for s in site.use.sources if s.name == var.name), ValueSource(var.name, "unset"))
    if origin.origin == "unset" and var.default_at is not None:
        default_start = site.start + var.default_at
        if source.text[default_start : default_start + len(value)] != value:
            return site.listed(f"the default of ${var.name} does not read as its value")
        return site.change(default_start + (a - p), default_start + (b - p))
    if origin.origin == "arg" and origin.location is not None:
        users = shared.get((site.path, origin.location), set())
        if len(users) > 1:
            return site.listed(
                f"the default of ARG {var.name} (line {origin.location.line}) feeds {len(users)} references"
            )
        arg_span = source.span(origin.location)
        if arg_span is None or source.text[arg_span[0] : arg_span[1]] != value:
            return site.listed(f"the default of ARG {var.name} does not read as its value")
        return site.change(arg_span[0] + (a - p), arg_span[0] + (b - p))
    return site.listed(f"${var.name} has no value written in this file")


def _verb(kind: str) -> str:
    return {PIN: "pin it", TYPO: "correct the tag", DIGEST: "update the digest"}[kind]


def _change(path: str, source: Source, start: int, end: int, inserted: str, want: _Want, use: ImageUse) -> Change:
    edit = Edit(start, end, source.text[start:end], inserted)
    return Change(
        want.kind,
        path,
        edit,
        source.location(path, start, end),
        use.location,
        use.resolved or "",
        want.after,
        want.description,
    )


def describe(change: Change) -> str:
    return f'{change.description}: "{clip(change.before)}" -> "{clip(change.after)}"'


def finding_key(f: Finding) -> tuple[str, str, int, int]:
    return (f.rule, f.location.path, f.location.line, f.location.column)
