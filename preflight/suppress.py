"""Inline suppression comments.

``# preflight: ignore=PF101,PF102``       the next instruction / ``image:`` line (or, at the end of a
                                          YAML line, that line)
``# preflight: ignore``                   the same, for every rule
``# preflight: ignore-file=PF103``        the whole file (``ignore-file`` alone: every rule)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT_RE = re.compile(
    r"#\s*preflight:\s*(?P<kind>ignore-file|ignore)(?:\s*=\s*(?P<ids>[A-Za-z0-9_, ]*))?\s*$",
    re.ASCII | re.IGNORECASE,
)


@dataclass(frozen=True)
class Directive:
    file_wide: bool
    rules: frozenset[str]  # {"*"} = every rule


def parse_directive(comment: str) -> Directive | None:
    """Parse the text of one comment (starting at ``#``); None if it is no preflight directive."""
    m = _COMMENT_RE.search(comment)
    if m is None:
        return None
    ids = frozenset(i.strip().upper() for i in (m.group("ids") or "").split(",") if i.strip())
    return Directive(m.group("kind").lower() == "ignore-file", ids or frozenset({"*"}))
