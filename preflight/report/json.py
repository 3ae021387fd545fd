"""Machine output: ``{"findings": [...], "summary": {...}}``. This shape is a public contract.

Each finding: rule, level, message, path (as displayed: relative to the working directory),
line, column (1-based), image (null when the finding is not about one image),
``suggestions`` only when there are some, and ``fixes`` only when there are some: the edits SARIF
carries (and ``preflight fix`` applies), each ``description``, ``path``, ``line``, ``column``,
``end_line``, ``end_column`` (the replaced characters; end column exclusive) and ``replacement``.
With ``--deep``, ``downloads``: one entry per image and platform walked, ``image`` (the normalized
reference), ``platform``, ``size`` (bytes: the sum of its compressed layer sizes) and ``layers``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..model import Finding, Fix, Report
from ..safetext import safe_json, visible
from . import LEVELS, Context

if TYPE_CHECKING:
    from ..facts import Download
    from .images import ImageRow


def render(ctx: Context) -> str:
    return safe_json(json.dumps(as_dict(ctx.report), indent=2, ensure_ascii=False)) + "\n"


def as_dict(report: Report) -> dict[str, Any]:
    s = report.summary
    counts = report.counts()
    summary = {
        "files": s.files,
        "images": s.images,
        "errors": counts["error"],
        "warnings": counts["warning"],
        "notes": counts["note"],
        "references_checked": s.references_checked,
        "requests": s.requests,
        "cache_hits": s.cache_hits,
        "dockerhub_remaining": s.dockerhub_remaining,
        "not_checked": s.not_checked,
        "offline": s.offline,
    }
    out: dict[str, Any] = {"findings": [_finding(f) for f in report.findings], "summary": summary}
    if report.downloads:
        out["downloads"] = [asdict(d) for d in report.downloads]
    return out


def _finding(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": f.rule,
        "level": LEVELS[f.level].text,
        "message": visible(f.message),
        "path": f.location.path,
        "line": f.location.line,
        "column": f.location.column,
        "image": f.image,
    }
    if f.suggestions:
        out["suggestions"] = list(f.suggestions)
    fixes = [_fix(x) for x in f.fixes if x.replacement.isprintable()]  # a fix inserts text verbatim
    if fixes:
        out["fixes"] = fixes
    return out


def _fix(fix: Fix) -> dict[str, Any]:
    loc = fix.location
    return {
        "description": visible(fix.description),
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line if loc.end_line is not None else loc.line,
        "end_column": loc.end_column,
        "replacement": fix.replacement,
    }


def images(rows: Sequence[ImageRow], downloads: Sequence[Download] | None = None) -> str:
    """``preflight images --format json``: ``{"images": [{path, line, column, kind, written,
    resolved, reference}]}``, a public contract too; with ``--deep`` also ``"downloads"`` (as ``as_dict``)."""
    out: dict[str, Any] = {"images": [asdict(r) for r in rows]}
    if downloads is not None:
        out["downloads"] = [asdict(d) for d in downloads]
    return safe_json(json.dumps(out, indent=2, ensure_ascii=False)) + "\n"


def references(refs: Sequence[str], key: str) -> str:
    """``{key: [reference, ...]}`` (``preflight images --missing-locally --format json``)."""
    return json.dumps({key: list(refs)}, indent=2, ensure_ascii=False) + "\n"
