"""Human output: ``path:line:col: PF102 warning: message`` lines, then a summary; and the
text of ``preflight images``, ``preflight rules`` and ``preflight rule``.

With color, findings are grouped under their file (ANSI escapes); the summary stays the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..model import Finding, Level, Report
from ..safetext import visible
from . import LEVELS, Context, RuleInfo
from .pages import for_readers, rule_page

if TYPE_CHECKING:
    from .images import ImageRow

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_COLORS = {Level.ERROR: "\x1b[1;31m", Level.WARNING: "\x1b[33m", Level.NOTE: "\x1b[36m", Level.OFF: ""}


def render(ctx: Context, *, color: bool = False) -> str:
    report = ctx.report
    lines = _grouped(report) if color else _plain(report)
    if lines:
        lines.append("")
    lines.extend(summary_lines(report))
    return "\n".join(lines) + "\n"


def _plain(report: Report) -> list[str]:
    out = []
    for f in report.findings:
        loc = f.location
        where = f"{visible(loc.path)}:{loc.line}:{loc.column}"
        out.append(f"{where}: {f.rule} {LEVELS[f.level].text}: {visible(f.message)}")
    return out


def _grouped(report: Report) -> list[str]:
    by_path: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_path.setdefault(f.location.path, []).append(f)
    out: list[str] = []
    for path, group in by_path.items():
        if out:
            out.append("")
        out.append(f"{_BOLD}{visible(path)}{_RESET}")
        for f in group:
            where = f"{f.location.line}:{f.location.column}"
            level = f"{_COLORS[f.level]}{LEVELS[f.level].text:<7}{_RESET}"
            out.append(f"  {where:<8} {level}  {visible(f.message)}  {_DIM}{f.rule}{_RESET}")
    return out


def summary_lines(report: Report) -> list[str]:
    """``3 errors, 1 warning in 12 files (5 images)`` and, after registry lookups, what they cost."""
    s = report.summary
    scope = f"{_count(s.files, 'file')} ({_count(s.images, 'image')})"
    counts = report.counts()
    levels = (Level.ERROR, Level.WARNING, Level.NOTE)
    found = [_count(counts[lvl.value], LEVELS[lvl].text) for lvl in levels if counts[lvl.value]]
    lines = [f"{', '.join(found)} in {scope}" if found else f"No problems found in {scope}."]
    if not s.offline:
        # "checked": the registry (or the cache) answered; the rest are "not checked". Requests
        # count those a registry answered (a DNS failure or refused connection sent none).
        total = s.references_checked + s.not_checked
        usage = f"{s.references_checked} of {_count(total, 'reference')} checked"
        if s.cache_hits:
            usage += f" ({s.cache_hits} from cache)"
        if s.not_checked:
            usage += f", {s.not_checked} not checked (see PF208/PF209)"
        usage += f"; {_count(s.requests, 'HTTP request')} answered"
        if s.dockerhub_remaining is not None:
            usage += f"; Docker Hub pulls remaining: {s.dockerhub_remaining}"
        lines.append(usage)
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def images(rows: Sequence[ImageRow]) -> str:
    """``preflight images``: a table of location, kind, text as written and the reference."""
    if not rows:
        return "No image references found.\n"
    headers = ("LOCATION", "KIND", "WRITTEN", "REFERENCE")
    table = [
        tuple(
            visible(str(cell))
            for cell in (
                f"{r.path}:{r.line}:{r.column}",
                r.kind,
                r.written,
                r.reference or "(unresolved or invalid)",
            )
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    lines = (
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in (headers, *table)
    )
    return "".join(f"{line}\n" for line in lines)


def references(refs: Sequence[str]) -> str:
    """Normalized references, one per line."""
    return "".join(f"{ref}\n" for ref in refs)


def rule_list(rules: Iterable[RuleInfo]) -> str:
    """``preflight rules``: ID, name, default level and summary of each rule."""
    lines = []
    for r in rules:
        level = "off" if r.level is Level.OFF else r.level.value
        lines.append(f"{r.id}  {r.name:<22} {level:<8} {r.summary}\n")
    return "".join(lines)


def rule_text(rule: RuleInfo) -> str:
    """``preflight rule PF102``: the rule's page as people read it (``pages.for_readers``). Every rule has a
    page (tests/test_rule_pages.py) and the wheel carries them (tests/test_packaging.py); an install that
    lost them still prints the rule's name and summary."""
    page = rule_page(rule.id)
    return for_readers(page) if page is not None else f"{rule.id} {rule.name}\n\n{rule.summary}"
