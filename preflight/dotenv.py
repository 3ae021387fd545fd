"""``.env`` files read as compose-go reads them (docker compose's project ``.env`` and ``env_file``).

``parse_dotenv(text, lookup)`` returns the values and the first error (line, message); bad input
never raises. Values are interpolated with the compose dialect; a variable that is not set is empty.
Pure: the caller reads the file and says where variables come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .interpolate import Dialect, ExpansionError, ExpansionTooLong, expand

Lookup = Callable[[str], "str | None"]
COMPOSE: Dialect = Dialect.COMPOSE  # type: ignore[attr-defined]


def _unset_as_empty(lookup: Lookup, unset: set[str]) -> Lookup:
    return lambda name: "" if name in unset else lookup(name)


def parse_dotenv(text: str, lookup: Lookup) -> tuple[dict[str, str], tuple[int, str] | None]:
    """Parse ``.env`` text as compose-go does. Returns (values, (line, message) of the first error).

    ``KEY=VALUE``, ``export KEY=VALUE``, ``KEY: VALUE``, ``#`` comments (inline after a space on
    unquoted values), single quotes (literal), double quotes (escapes, then interpolation), values
    spanning lines inside quotes. A bare ``KEY`` takes its value from ``lookup`` or is left out.
    Interpolation sees ``lookup`` first, then the variables defined above.
    """
    out: dict[str, str] = {}

    def var(name: str) -> str | None:
        value = lookup(name)
        return value if value is not None else out.get(name)

    i, line = 0, 1
    while True:
        i, line = _next_statement(text, i, line)
        if i >= len(text):
            return out, None
        try:
            i, line = _statement(text, i, line, lookup, var, out)
        except _Invalid as exc:
            return out, (exc.line, exc.message)


class _Invalid(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _next_statement(text: str, i: int, line: int) -> tuple[int, int]:
    """Skip blank space and comment lines: where the next statement starts (``len(text)`` if none)
    and its line."""
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            line += text[i] == "\n"
            i += 1
        if i >= n or text[i] != "#":
            return i, line
        j = text.find("\n", i)
        if j < 0:
            return n, line
        i = j


def _statement(text: str, i: int, line: int, lookup: Lookup, var: Lookup, out: dict[str, str]) -> tuple[int, int]:
    """Read the statement at ``text[i]`` into ``out``; where the next one may start, and its line."""
    m = _EXPORT.match(text, i)
    if m:
        i = m.end()
    key, i = _key(text, i, line)
    n = len(text)
    if i >= n or text[i] == "\n":  # a bare KEY: inherited from the environment
        value = lookup(key)
        if value is not None:
            out[key] = value
        return i, line
    i += 1
    while i < n and _env_space(text[i]):
        i += 1
    if i < n and text[i] in "\"'":
        quote = text[i]
        raw, j = _quoted(text, i, line)
        line += text.count("\n", i, j)
        i = j + 1
        if quote == "'":
            out[key] = raw
            return i, line
        value_text = _unescape(raw)
    else:
        j = text.find("\n", i)
        j = n if j < 0 else j
        value_text = text[i:j].split(" #", 1)[0].rstrip()
        i = j
    out[key] = _interpolate(key, value_text, var, line)
    return i, line


def _key(text: str, i: int, line: int) -> tuple[str, int]:
    """The variable name at ``text[i]`` and where it ends (at ``=``, ``:``, a newline or the end)."""
    start, n = i, len(text)
    while i < n and text[i] not in "=:\n":
        ch = text[i]
        if not (ch.isalnum() or ch in "_.-[]" or _env_space(ch)):
            raise _Invalid(line, f"unexpected character {ch!r} in variable name")
        i += 1
    key = text[start:i].rstrip()
    if any(_env_space(c) for c in key):
        raise _Invalid(line, f"variable name {key!r} contains a space")
    return key, i


def _quoted(text: str, i: int, line: int) -> tuple[str, int]:
    """The value quoted at ``text[i]`` (backslash pairs kept, except an escaped quote) and the
    index of its closing quote."""
    quote, escaped = text[i], False
    chars: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        ch = text[j]
        if ch == quote and not escaped:
            return "".join(chars), j
        if ch == "\\" and not escaped:
            escaped = True
        elif escaped:
            escaped = False
            chars.append(ch if ch == quote else "\\" + ch)
        else:
            chars.append(ch)
        j += 1
    raise _Invalid(line, "unterminated quoted value")


def _interpolate(key: str, value_text: str, var: Lookup, line: int) -> str:
    """A value after interpolation; a variable that is not set is empty."""
    try:
        expansion = expand(value_text, var, COMPOSE)
        if expansion.text is None and not expansion.errors:  # unset variables become ""
            missing = set(expansion.unresolved)
            expansion = expand(value_text, _unset_as_empty(var, missing), COMPOSE)
    except ExpansionTooLong as exc:
        raise _Invalid(line, f"the value of {key} is longer than {exc.limit} characters once expanded") from None
    except ExpansionError as exc:
        raise _Invalid(line, f"invalid variable syntax in the value of {key}: {exc}") from None
    if expansion.errors:
        raise _Invalid(line, f"required variable {expansion.errors[0]}")
    return expansion.text or ""


_EXPORT = re.compile(r"export[ \t]+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def _env_space(ch: str) -> bool:
    return ch in "\t\v\f\r \x85\xa0"


def _unescape(raw: str) -> str:
    """Double-quoted escapes; ``\\$`` stays a literal ``$`` (written ``$$`` for the expander)."""
    return _ESCAPE_RE.sub(lambda m: "$$" if m.group(1) == "$" else _ESCAPES.get(m.group(1), m.group(0)), raw)
