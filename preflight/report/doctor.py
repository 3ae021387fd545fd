"""``preflight doctor``'s output: its steps as text (a line per step, ✓ or ✗, its time) or JSON.

Every text a registry, a certificate or an engine supplied is shown with ``visible`` (text) or
``safe_json`` (JSON): a hostile registry cannot write to the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from ..doctor.steps import Section
from ..safetext import safe_json, visible


def render_text(sections: Sequence[Section]) -> str:
    lines: list[str] = []
    for section in sections:
        lines.append(visible(section.title))
        for s in section.steps:
            mark = "✓" if s.ok else "✗"
            lines.append(f"  {mark} {visible(s.name):<17} {s.seconds * 1000:>6.0f} ms  {visible(s.detail)}")
            if not s.ok:
                lines.append(f"      cause: {visible(s.cause)}; next: {visible(s.next)}")
        lines.append("")
    bad = sum(1 for s in sections if not s.ok)
    lines.append("healthy" if not bad else f"{bad} of {len(sections)} checks found a problem")
    return "\n".join(lines)


def render_json(sections: Sequence[Section]) -> str:
    data = {
        "ok": all(s.ok for s in sections),
        "checks": [{"title": s.title, "ok": s.ok, "steps": [asdict(step) for step in s.steps]} for s in sections],
    }
    return safe_json(json.dumps(data, indent=2, ensure_ascii=False))
