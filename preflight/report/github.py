"""GitHub Actions workflow commands: ``::error file=…,line=…,col=…,title=PF201 …::message``.

Most severe first (GitHub shows only the first 10 per level and step as annotations);
file paths relative to the repository root. :func:`step_summary` gives the full list as
Markdown for ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

from ..model import Finding
from ..safetext import markdown_code, visible
from . import LEVELS, Context, most_severe_first
from .text import summary_lines


def render(ctx: Context) -> str:
    lines = [command(ctx, f) for f in most_severe_first(ctx.report.findings)]
    lines.extend(summary_lines(ctx.report))
    return "\n".join(lines) + "\n"


def command(ctx: Context, f: Finding) -> str:
    loc = f.location
    props = [("file", visible(ctx.repo_path(loc.path))), ("line", str(loc.line))]
    if loc.end_line is not None and loc.end_line != loc.line:
        props.append(("endLine", str(loc.end_line)))  # col/endColumn only on one line
    else:
        props.append(("col", str(loc.column)))
        if loc.end_column is not None:
            props.append(("endColumn", str(loc.end_column)))
    props.append(("title", visible(_title(ctx, f.rule))))
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{LEVELS[f.level].github} {joined}::{escape_data(visible(f.message))}"


def escape_data(text: str) -> str:
    """As ``@actions/core`` escapeData: ``%`` first, then CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """As ``@actions/core`` escapeProperty: escapeData plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def step_summary(ctx: Context) -> str:
    """A Markdown table of every finding, for ``$GITHUB_STEP_SUMMARY``.

    Locations and messages quote files and registries: each is one code span (``markdown_code``),
    so no HTML, link, image or emphasis in them ever renders, and ``|`` cannot end the cell."""
    out = ["## preflight", ""]
    if ctx.report.findings:
        out += ["| Level | Rule | Location | Message |", "|---|---|---|---|"]
        for f in most_severe_first(ctx.report.findings):
            where = f"{ctx.repo_path(f.location.path)}:{f.location.line}:{f.location.column}"
            cells = (LEVELS[f.level].text, _cell(f.rule), markdown_code(where), markdown_code(f.message))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += summary_lines(ctx.report)
    return "\n".join(out) + "\n"


def _title(ctx: Context, rule_id: str) -> str:
    rule = ctx.rules.get(rule_id)
    return f"{rule_id} {rule.name}" if rule is not None and rule.name else rule_id


def _cell(text: str) -> str:
    return visible(text).replace("\\", "\\\\").replace("|", "\\|")
