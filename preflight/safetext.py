"""Text from files and registries made safe for terminals, CI logs, JSON files and Markdown.

Messages quote what a Dockerfile, a compose file or a registry wrote; none of it may act on the
reader's screen: no ANSI/OSC escape (colours, OSC 8 hyperlinks, OSC 52 clipboard writes), no C1
control, no line break that starts a new workflow command, no bidi override or invisible
character that makes text read differently from what it is (Trojan Source: U+202E, U+2066-2069,
U+200B...), and in Markdown no HTML, link, image or table break.

* ``visible(text)``: every character Python does not call printable (Unicode categories Cc, Cf,
  Cs, Co, Cn, Zl, Zp and spaces other than " ") is shown as its escape (``\\x1b``, ``\\u202e``).
* ``safe_json(text)``: the same characters in serialized JSON become ``\\uXXXX`` escapes: the
  data is unchanged for a JSON reader, and nothing is raw in the file.
* ``markdown_code(text)``: a Markdown code span holding ``visible(text)``: no HTML, link,
  autolink or emphasis is ever parsed inside one; ``|`` is escaped for GFM tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_JSON_UNSAFE = re.compile(r"[^\x20-\x7e\n]")


def visible(text: str) -> str:
    """``text`` with every non-printable character written as its Python escape."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii") for c in text
    )


def _json_escape(match: re.Match[str]) -> str:
    c = match.group(0)
    if c.isprintable():
        return c
    code = ord(c)
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def safe_json(serialized: str) -> str:
    """``json.dumps(..., ensure_ascii=False)`` output with non-printable characters escaped.

    Outside strings JSON text is ASCII (and newlines of the indentation), so every character
    changed here is inside a string, where ``\\uXXXX`` means the same character."""
    return _JSON_UNSAFE.sub(_json_escape, serialized)


def markdown_code(text: str) -> str:
    """``visible(text)`` as one Markdown code span fit for a GFM table cell."""
    body = visible(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{fence}{pad}{body}{pad}{fence}".replace("|", "\\|")


def inert_in_actions(text: str, environ: Mapping[str, str]) -> str:
    """``text`` for a GitHub Actions log: between ``::stop-commands::TOKEN`` and ``::TOKEN::`` when
    ``GITHUB_ACTIONS`` is true, so no line of it (a quoted file line, a path, a registry's tag; the
    runner trims leading blanks and also reads legacy ``##[...]`` commands) runs as a workflow command."""
    if environ.get("GITHUB_ACTIONS", "").lower() != "true" or not text:
        return text
    import secrets  # only inside GitHub Actions: it loads random, hashlib, hmac and base64

    token = secrets.token_hex(16)
    ending = "" if text.endswith("\n") else "\n"
    return f"::stop-commands::{token}\n{text}{ending}::{token}::\n"


def redact_url(url: str) -> str:
    """An address safe to print: user information (``user:password@``) replaced, at most 200 characters."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url[:200]
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}://{netloc}{slash}{tail}"[:200]
