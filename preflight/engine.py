"""The pass that turns resolved documents (+ registry facts) into a report: which rules run
(``Selection``), and running them.

A rule is a pure function ``check(subject, ctx) -> Iterable[Hit]`` registered with ``@rule`` in the
rule book (``preflight.rulebook``: the rule API and the registry). The engine stamps IDs and levels,
applies configuration (select/ignore/levels) and inline suppressions, removes duplicates and sorts. Rules never touch the network: registry rules read
``ctx.facts``, which the registry step filled beforehand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import rulebook
from .model import Document, Finding, Level, Report, Summary, Suppression, clip
from .resolve import Resolved, Subject
from .rulebook import (
    RULES,
    Check,
    Hit,
    Rule,
    RuleContext,
    RuleOptions,
    all_rules,
    declare,
    describe,
    get_rule,
    rule,
)

if TYPE_CHECKING:
    from .facts import ImageFacts

__all__ = [
    "RULES",
    "Check",
    "Hit",
    "Rule",
    "RuleContext",
    "RuleOptions",
    "Selection",
    "Subject",
    "active_rules",
    "all_rules",
    "cached_note",
    "declare",
    "describe",
    "evaluate",
    "get_rule",
    "needs_registry",
    "rule",
    "with_facts",
]  # fmt: skip  (the rule API lives in rulebook; it is re-exported for the engine's callers)


# ----------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """Which rules run and at which level, from configuration."""

    select: tuple[str, ...] = ()  # IDs or prefixes ("PF1"); empty = defaults
    extend_select: tuple[str, ...] = ()  # enabled on top of the selection (opt-in rules such as PF103)
    ignore: tuple[str, ...] = ()
    levels: Mapping[str, Level] = field(default_factory=dict)

    def level_of(self, r: Rule) -> Level:
        if _matches(r.id, self.ignore):
            return Level.OFF
        if r.id in self.levels:
            return self.levels[r.id]
        chosen = _matches(r.id, self.select) or _matches(r.id, self.extend_select)
        if self.select and not chosen:
            return Level.OFF
        if r.level is Level.OFF and chosen:
            return Level.WARNING  # an opt-in rule selected by name reports as a warning
        return r.level


def _matches(rule_id: str, patterns: Iterable[str]) -> bool:
    return any(rule_id.startswith(p.upper()) for p in patterns if p)


def active_rules(selection: Selection) -> dict[str, Level]:
    return {r.id: lvl for r in all_rules() if (lvl := selection.level_of(r)) is not Level.OFF}


def needs_registry(selection: Selection) -> bool:
    active = active_rules(selection)
    return any(rulebook.RULES[i].needs_registry for i in active)


# ----------------------------------------------------------------- evaluation


def with_facts(subject: Subject, facts: Mapping[str, ImageFacts]) -> Subject:
    """``subject`` with the registry's facts about its reference (None when not looked up)."""
    fact = facts.get(subject.ref.canonical) if subject.ref is not None else None
    if fact is None:
        return subject
    return Subject(subject.use, subject.ref, subject.ref_error, fact, subject.platforms)


def evaluate(resolved: Resolved, selection: Selection, ctx: RuleContext, summary: Summary) -> Report:
    """The evaluate stage: run every active rule over every subject; apply levels and suppressions."""
    active = active_rules(selection)
    # A registry rule reads only what the facts stage learned (registry facts, the local engine): in a
    # run that learned nothing (offline) it has nothing to report, and is not called for every image.
    learned = bool(ctx.facts) or ctx.engine is not None
    checks = [
        (r, lvl)
        for i, lvl in active.items()
        if (r := rulebook.RULES[i]).check is not None and (learned or not r.needs_registry)
    ]
    findings: dict[tuple, Finding] = {}
    groups: set[tuple[str, str]] = set()
    audit = _SuppressionAudit(active)
    for doc, subjects in zip(resolved.documents, resolved.subjects, strict=True):
        if ctx.facts:
            subjects = tuple(with_facts(s, ctx.facts) for s in subjects)
        audit.document(doc, subjects)
        for problem in doc.problems:
            lvl = active.get(problem.rule)
            if lvl is None or audit.suppressed(doc, problem.rule, problem.location.line):
                continue
            f = Finding(problem.rule, lvl, problem.message, problem.location)
            findings.setdefault(_dedup_key(f), f)
        for subject in subjects:
            use = subject.use
            for r, lvl in checks:
                assert r.check is not None
                for hit in r.check(subject, ctx):
                    loc = hit.location or use.location
                    if audit.suppressed(doc, r.id, loc.line):
                        continue
                    if hit.group is not None:
                        if (r.id, hit.group) in groups:
                            continue
                        groups.add((r.id, hit.group))
                    message = hit.message
                    if r.needs_registry and subject.facts is not None and subject.facts.cached_age is not None:
                        message += cached_note(subject.facts.cached_age)
                    level = hit.level if hit.level is not None and r.id not in selection.levels else lvl
                    f = Finding(r.id, level, message, loc, use.written, hit.suggestions, hit.fixes)
                    findings.setdefault(_dedup_key(f), f)
    for f in audit.findings():
        findings.setdefault(_dedup_key(f), f)
    ordered = tuple(sorted(findings.values(), key=lambda f: f.sort_key))
    return Report(ordered, summary, resolved.root)


UNUSED_SUPPRESSION = "PF004"


class _SuppressionAudit:
    """Tracks which inline suppressions suppressed something, for PF004 (as ruff's RUF100).

    A suppression is judged only where its rules really ran: rules the selection turned off are
    left out, and one naming a registry rule (or every rule) is judged only when every image of
    its file got a registry answer, so an offline run or an unreachable registry never calls a
    needed suppression unused. A file read several times (one Dockerfile built with different
    build args) counts as used when any reading used it.
    """

    def __init__(self, active: Mapping[str, Level]) -> None:
        self.active = active
        self.level = active.get(UNUSED_SUPPRESSION)
        self.used: set[tuple[str, Suppression]] = set()
        self.judged: dict[tuple[str, Suppression], bool] = {}
        self.docs: dict[tuple[str, Suppression], Document] = {}

    def document(self, doc: Document, subjects: Iterable[Subject]) -> None:
        if self.level is None or not doc.suppressions.entries:
            return
        answered = all(
            s.ref is None or (s.facts is not None and s.facts.status.answered) for s in subjects if s.use.pull
        )
        for entry in doc.suppressions.entries:
            key = (doc.path, entry)
            ran = [i for i in self.active if entry.matches(i)]
            needs_facts = any(rulebook.RULES[i].needs_registry for i in ran)
            judged = bool(ran) and UNUSED_SUPPRESSION not in ran and (answered or not needs_facts)
            judged = judged or entry.lines == frozenset()  # nothing follows it: it can never apply
            self.judged[key] = self.judged.get(key, True) and judged
            self.docs.setdefault(key, doc)

    def suppressed(self, doc: Document, rule: str, line: int) -> bool:
        for entry in doc.suppressions.covering(rule, line):
            self.used.add((doc.path, entry))
        return doc.suppressions.covers(rule, line)

    def findings(self) -> list[Finding]:
        if self.level is None:
            return []
        known = list(rulebook.RULES)
        out: list[Finding] = []
        for key, doc in self.docs.items():
            entry = key[1]
            unknown = sorted(p for p in entry.rules if p != "*" and not any(i.startswith(p) for i in known))
            if unknown:
                out.append(Finding(UNUSED_SUPPRESSION, self.level, _unknown_message(unknown, known), entry.location))
            elif key not in self.used and self.judged.get(key, False):
                message = _unused_message(entry)
                if not doc.suppressions.covers(UNUSED_SUPPRESSION, entry.location.line):
                    out.append(Finding(UNUSED_SUPPRESSION, self.level, message, entry.location))
        return out


def _unknown_message(unknown: list[str], known: list[str]) -> str:
    import difflib

    names = ", ".join(clip(p, 20) for p in unknown)
    close = difflib.get_close_matches(unknown[0], known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    what = "is not a preflight rule or rule prefix" if len(unknown) == 1 else "are not preflight rules or rule prefixes"
    return f"suppression names {names}, which {what}{hint}; `preflight rules` lists them"


def _unused_message(entry: Suppression) -> str:
    rules = "" if "*" in entry.rules else " ".join(sorted(entry.rules)) + " "
    if entry.lines is None:
        return f"suppression suppresses nothing: no {rules}finding in this file; remove it"
    if not entry.lines:
        return "suppression suppresses nothing: no instruction follows it; remove it"
    first, last = min(entry.lines), max(entry.lines)
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    return f"suppression suppresses nothing: no {rules}finding on {where}; remove it"


def _dedup_key(f: Finding) -> tuple:
    return (f.rule, f.location.path, f.location.line, f.location.column, f.message)


# ----------------------------------------------------------------- message helpers


def cached_note(age: float) -> str:
    """What a finding from a cached registry answer adds: that it is cached, how old, how to re-check."""
    seconds = int(age)
    if seconds < 120:
        ago = f"{seconds} s"
    elif seconds < 2 * 3600:
        ago = f"{seconds // 60} min"
    else:
        ago = f"{seconds // 3600} h"
    return f" (cached answer from {ago} ago; --no-cache asks the registry again)"
