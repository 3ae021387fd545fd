"""Render one :class:`~preflight.model.Report` in every output format.

``render(report, fmt, rules=all_rules())`` returns the whole output as text. Every format
reads the same findings; levels map through the single table :data:`LEVELS`. The output of
``preflight images`` is ``report.images``'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..model import Finding, Level, Report

FORMATS = ("text", "json", "sarif", "github", "gitlab")


class RuleInfo(Protocol):
    """What reporters read from a registered rule (``preflight.engine.Rule``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def level(self) -> Level: ...
    @property
    def tags(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class LevelNames:
    """How one preflight level is spelled by each format."""

    text: str
    sarif: str  # result.level / defaultConfiguration.level
    problem: str  # SARIF properties["problem.severity"]
    github: str  # workflow command
    gitlab: str  # Code Quality severity
    gitlab_security: str  # Code Quality severity of a rule tagged "security"


LEVELS: Mapping[Level, LevelNames] = {
    Level.ERROR: LevelNames("error", "error", "error", "error", "major", "critical"),
    Level.WARNING: LevelNames("warning", "warning", "warning", "warning", "minor", "minor"),
    Level.NOTE: LevelNames("note", "note", "recommendation", "notice", "info", "info"),
    # A disabled rule still appears in SARIF's rules[]; it reports as a warning when selected.
    Level.OFF: LevelNames("off", "none", "warning", "notice", "info", "info"),
}


@dataclass(frozen=True)
class Context:
    """A report plus what every format needs to render it."""

    report: Report
    rules: Mapping[str, RuleInfo]  # by ID, sorted
    cwd: Path  # absolute; Location paths are relative to it
    root: Path  # absolute repository root

    @classmethod
    def make(cls, report: Report, rules: Iterable[RuleInfo], cwd: Path | None = None) -> Context:
        base = Path(cwd if cwd is not None else os.getcwd()).absolute()
        root = Path(report.root)
        root = root if root.is_absolute() else base / root
        by_id = {r.id: r for r in sorted(rules, key=lambda r: r.id)}
        return cls(report, by_id, base, root)

    def repo_path(self, path: str) -> str:
        """``path`` (relative to cwd) made relative to the repository root, ``/`` separators.

        Symlinks are resolved when that keeps the file inside the repository.
        """
        absolute = Path(path) if Path(path).is_absolute() else self.cwd / path
        pairs = (
            (absolute.resolve(), self.root.resolve()),
            (Path(os.path.normpath(absolute)), Path(os.path.normpath(self.root))),
        )
        for file, root in pairs:
            if file.is_relative_to(root):
                return file.relative_to(root).as_posix()
        return Path(os.path.relpath(absolute, self.root)).as_posix()

    def is_security(self, rule_id: str) -> bool:
        rule = self.rules.get(rule_id)
        return rule is not None and "security" in rule.tags


def most_severe_first(findings: Iterable[Finding]) -> list[Finding]:
    """Stable: report order within one level."""
    return sorted(findings, key=lambda f: -f.level.rank)


def render(
    report: Report,
    fmt: str,
    *,
    rules: Sequence[RuleInfo],
    color: bool = False,
    cwd: Path | None = None,
) -> str:
    """The whole output of ``fmt`` for ``report``; ends with a newline unless empty."""
    import importlib

    renderers = {  # format -> (module, function); only the module asked for is imported
        "text": ("text", "render"),
        "json": ("json", "render"),
        "sarif": ("sarif", "render"),
        "github": ("github", "render"),
        "github-summary": ("github", "step_summary"),  # Markdown for $GITHUB_STEP_SUMMARY
        "gitlab": ("gitlab", "render"),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    module, function = renderers[fmt]
    ctx = Context.make(report, rules, cwd)
    render_fn = getattr(importlib.import_module(f".{module}", __name__), function)
    return render_fn(ctx, color=color) if fmt == "text" else render_fn(ctx)


__all__ = [
    "FORMATS",
    "LEVELS",
    "Context",
    "LevelNames",
    "RuleInfo",
    "most_severe_first",
    "render",
]
