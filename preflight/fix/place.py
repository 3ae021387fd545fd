"""Where the characters a fix changes are written (pure: the file texts are given).

The wanted change is narrowed to the characters of the *resolved* reference that differ, and mapped
back to the file:

* a literal reference: inside the reference itself;
* the changed characters come from a variable: the default written in the reference
  (``${TAG:-1.0}`` with TAG unset) or the ARG default of a Dockerfile (``ARG PY=3.12``) that feeds
  this reference only; from anywhere else (build args, ``.env``, the environment, a value shared
  by several references, a computed ARG) the reference is listed with where its value comes from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..model import Document, ImageUse, Location, ValueSource
from .changes import DIGEST, PIN, TYPO, Change, Listed, Want
from .edits import Edit, Source, narrow

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
    want: Want
    source: Source
    start: int
    a: int
    b: int
    inserted: str

    def change(self, start: int, end: int) -> Change:
        return _change(self.path, self.source, start, end, self.inserted, self.want, self.use)

    def listed(self, reason: str) -> Listed:
        return _listed(self.use, self.want, reason)


def _listed(use: ImageUse, want: Want, reason: str) -> Listed:
    return Listed(use.location, use.written, f"{_verb(want.kind)} by hand: {reason}")


def place(
    doc: Document,
    use: ImageUse,
    want: Want,
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


def _change(path: str, source: Source, start: int, end: int, inserted: str, want: Want, use: ImageUse) -> Change:
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
