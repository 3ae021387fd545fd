"""SARIF 2.1.0 for GitHub code scanning (integration.md §1).

One run; ``rules[]`` lists every registered rule (sorted, once) with help from its page;
URIs are relative to the repository root, POSIX and percent-encoded, with ``%SRCROOT%``;
fingerprints are our own line-free ``preflight/v1`` key. No key is ever null or "".
Help links point at ``HELP_BASE``, the rule pages on the project's main branch.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import quote

from ..model import Finding, Fix, Level, Location
from ..safetext import safe_json, visible
from . import LEVELS, Context, RuleInfo, most_severe_first
from .pages import load_page

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/preflight-dev/preflight"
HELP_BASE = "https://github.com/preflight-dev/preflight/blob/main/rules/"
CATEGORY = "preflight/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "preflight/v1"

MAX_RESULTS = 25_000  # GitHub: results per run
MAX_TAGS = 20  # GitHub: tags per rule
MAX_TEXT = 1024  # GitHub: short/full description length
MAX_NAME = 255
# Only rules tagged "security" carry a security severity (GitHub: >9 critical, 7-8.9 high...).
SECURITY_SEVERITY = {Level.ERROR: "8.0", Level.WARNING: "5.0", Level.NOTE: "2.0", Level.OFF: "2.0"}


def render(ctx: Context) -> str:
    return safe_json(json.dumps(as_dict(ctx), indent=2, ensure_ascii=False)) + "\n"


def as_dict(ctx: Context) -> dict[str, Any]:
    findings = _within_limit(ctx.report.findings)
    ids = sorted(set(ctx.rules) | {f.rule for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    driver = {
        "name": "preflight",
        "semanticVersion": tool_version(),
        "informationUri": INFORMATION_URI,
        "rules": [descriptor(rule_id, ctx.rules.get(rule_id)) for rule_id in ids],
    }
    run = {
        "tool": {"driver": driver},
        "automationDetails": {"id": CATEGORY},
        "columnKind": "unicodeCodePoints",
        "results": _results(ctx, findings, index),
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def tool_version() -> str:
    from .. import __version__

    return __version__


def descriptor(rule_id: str, rule: RuleInfo | None) -> dict[str, Any]:
    """A reportingDescriptor; a rule unknown to the registry still gets every required text."""
    page = load_page(rule_id)
    name = (rule.name if rule else "") or (page.name if page else "") or rule_id
    short = (rule.summary if rule else "") or (page.summary if page else "") or rule_id
    full = (page.why if page else "") or short
    help_text = page.help if page else f"{short}\n\nSee {HELP_BASE}{rule_id}.md"
    level = rule.level if rule else Level.WARNING
    config: dict[str, Any] = {"level": LEVELS[level].sarif}
    if level is Level.OFF:
        config["enabled"] = False
    properties: dict[str, Any] = {}
    tags = list(dict.fromkeys(t for t in (rule.tags if rule else ()) if t))[:MAX_TAGS]
    if tags:
        properties["tags"] = tags
    properties["precision"] = "high" if getattr(rule, "needs_registry", False) else "very-high"
    properties["problem.severity"] = LEVELS[level].problem
    if "security" in tags:
        properties["security-severity"] = SECURITY_SEVERITY[level]
    out: dict[str, Any] = {
        "id": rule_id,
        "name": name[:MAX_NAME],
        "shortDescription": {"text": _clip(short)},
        "fullDescription": {"text": _clip(full)},
        "help": {"text": help_text},
        "helpUri": f"{HELP_BASE}{rule_id}.md",
        "defaultConfiguration": config,
        "properties": properties,
    }
    if page:
        out["help"]["markdown"] = page.help
    return out


def _results(ctx: Context, findings: list[Finding], index: dict[str, int]) -> list[dict[str, Any]]:
    """Results in report order; a repeat of the same rule, file and image gets its occurrence
    number in the fingerprint (as GitLab's), else GitHub merges the repeats into one alert."""
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for f in findings:
        uri = _uri(ctx, f.location.path)
        key = (f.rule, uri, f.image or f.message)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        out.append(_result(ctx, f, index[f.rule], uri, "\0".join(key) + (f"\0{occurrence}" if occurrence else "")))
    return out


def _result(ctx: Context, f: Finding, rule_index: int, uri: str, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[f.level].sarif,
        "message": {"text": visible(f.message) or f.rule},
        "locations": [_location(uri, f.location)],
        "partialFingerprints": {FINGERPRINT_KEY: hashlib.sha256(key.encode()).hexdigest()[:16]},
    }
    fixes = [_fix(ctx, fix) for fix in f.fixes if fix.replacement.isprintable()]  # a fix inserts text verbatim
    if fixes:
        out["fixes"] = fixes
    return out


def _fix(ctx: Context, fix: Fix) -> dict[str, Any]:
    replacement: dict[str, Any] = {"deletedRegion": region(fix.location)}
    if fix.replacement:
        replacement["insertedContent"] = {"text": fix.replacement}
    change = {"artifactLocation": _artifact(_uri(ctx, fix.location.path)), "replacements": [replacement]}
    out: dict[str, Any] = {"artifactChanges": [change]}
    if fix.description:
        out["description"] = {"text": visible(fix.description)}
    return out


def region(loc: Location) -> dict[str, int]:
    """1-based; the end only where known (endColumn = the column after the last character)."""
    start_line, start_col = max(1, loc.line), max(1, loc.column)
    out = {"startLine": start_line, "startColumn": start_col}
    if loc.end_line is None and loc.end_column is None:
        return out
    end_line = max(start_line, loc.end_line or start_line)
    out["endLine"] = end_line
    if loc.end_column is not None and (end_line > start_line or loc.end_column >= start_col):
        out["endColumn"] = max(1, loc.end_column)
    return out


def _uri(ctx: Context, path: str) -> str:
    # fsencode: a file name that is not UTF-8 arrives with surrogate escapes; its bytes are
    # percent-encoded as they are on disk.
    return quote(os.fsencode(ctx.repo_path(path)), safe="/")


def _location(uri: str, loc: Location) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": _artifact(uri), "region": region(loc)}}


def _artifact(uri: str) -> dict[str, str]:
    return {"uri": uri, "uriBaseId": SRCROOT}


def _within_limit(findings: tuple[Finding, ...]) -> list[Finding]:
    """At most MAX_RESULTS, the most severe kept, in report order."""
    if len(findings) <= MAX_RESULTS:
        return list(findings)
    kept = {id(f) for f in most_severe_first(findings)[:MAX_RESULTS]}
    return [f for f in findings if id(f) in kept]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
