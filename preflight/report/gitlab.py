"""GitLab Code Quality report: a JSON array (no BOM) of Code Climate issues.

The fingerprint hashes rule, path, image (or message) and the occurrence index, never the line,
so that edits above a finding do not turn it into a new one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..model import Finding
from ..safetext import safe_json, visible
from . import LEVELS, Context


def render(ctx: Context) -> str:
    seen: dict[str, int] = {}
    issues = []
    for f in ctx.report.findings:
        path = ctx.repo_path(f.location.path)
        key = "\0".join((f.rule, path, f.image or f.message))
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        issues.append(_issue(ctx, f, path, f"{key}\0{occurrence}"))
    return safe_json(json.dumps(issues, indent=2, ensure_ascii=False)) + "\n"


def _issue(ctx: Context, f: Finding, path: str, key: str) -> dict[str, Any]:
    names = LEVELS[f.level]
    return {
        "description": f"{f.rule}: {visible(f.message)}",
        "check_name": f.rule,
        "fingerprint": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest(),
        "severity": names.gitlab_security if ctx.is_security(f.rule) else names.gitlab,
        "location": {"path": path, "lines": {"begin": f.location.line}},
    }
