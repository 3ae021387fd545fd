"""Find and read rule pages (``rules/PFxxx.md``) for help texts.

Pages live in the repository's top-level ``rules/`` folder; an installed package carries
copies in ``preflight/rule_pages/``. The installed copy wins, so that a stray ``rules/``
folder next to site-packages is never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_ID = re.compile(r"^PF\d{3}$")
_TITLE = re.compile(r"^#\s+(PF\d{3})\s+(\S+)\s*$")
_EXPECT = re.compile(r"^\s*#\s*expect:.*\n?", re.M)  # test-harness markers in Bad examples

PAGE_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parents[1] / "rule_pages",  # installed package
    Path(__file__).resolve().parents[2] / "rules",  # repository checkout
)


@dataclass(frozen=True)
class Page:
    """What reporters use from a rule page."""

    id: str
    name: str
    summary: str  # the first non-empty line after the title
    why: str  # the first paragraph of ``## Why``, "" when absent
    text: str  # the whole page (Markdown)

    @property
    def help(self) -> str:
        """The page for readers: without the ``# expect:`` markers the page tests use."""
        return for_readers(self.text).strip()


_FENCE = re.compile(r"^(`{3,})[ \t]*(\S+)[ \t]+(.+?)[ \t]*$", re.M)
_CAPTIONS = {
    "file": "`{}`:",
    "build-arg": "built with `--build-arg {}`:",
    "env": "with `{}` in the environment:",
    "login": "after `docker login` (user and password `{}`):",
}


def for_readers(text: str) -> str:
    """A rule page as people read it: without the test harness's ``# expect:`` markers, and with
    each fenced block's test attributes (``file=api/Dockerfile``, ``build-arg=K=V``, ``login=``,
    ``preflight-config``) turned into a caption line above a plain ``dockerfile``/``yaml`` fence."""
    text = _EXPECT.sub("", text)

    def fence(m: re.Match[str]) -> str:
        ticks, language, rest = m.group(1), m.group(2), m.group(3)
        captions = []
        for word in rest.split():
            key, _, value = word.partition("=")
            if key == "preflight-config" and not value:
                captions.append("In `.preflight.yaml`:")
            elif key in _CAPTIONS and value:
                captions.append(_CAPTIONS[key].format(value))
        head = "\n".join(captions)
        return f"{head}\n\n{ticks}{language}" if head else f"{ticks}{language}"

    return _FENCE.sub(fence, text).replace("```registry\n", "```yaml\n")


@cache
def rule_page(rule_id: str) -> str | None:
    """The Markdown text of the page for ``rule_id``, or None when there is none."""
    if not _ID.match(rule_id):
        return None
    for folder in PAGE_DIRS:
        path = folder / f"{rule_id}.md"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def parse_page(text: str) -> Page | None:
    """Title ``# PF102 latest-tag``, then the summary line; None when the title is malformed."""
    lines = text.splitlines()
    head = [i for i, line in enumerate(lines) if line.strip()]
    if not head:
        return None
    title = _TITLE.match(lines[head[0]].strip())
    if title is None:
        return None
    summary = lines[head[1]].strip() if len(head) > 1 else ""
    if summary.startswith("#"):
        summary = ""
    return Page(title.group(1), title.group(2), summary, _first_paragraph(lines, "## Why"), text)


def load_page(rule_id: str) -> Page | None:
    text = rule_page(rule_id)
    return parse_page(text) if text is not None else None


def _first_paragraph(lines: list[str], heading: str) -> str:
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == heading.lower())
    except StopIteration:
        return ""
    para: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("#") or line.startswith("```"):
            break
        if not line.strip():
            if para:
                break
            continue
        para.append(line.strip())
    return " ".join(para)
