"""Exclude patterns: gitignore-like globs that leave paths out of discovery.

Patterns (``--exclude``, config ``exclude``; config ``compose-files`` uses the same syntax) are
gitignore-like globs, case-sensitive:

* ``*`` matches within one path component, ``?`` one character other than ``/``,
  ``[abc]``/``[!abc]`` a character class, ``**`` any number of components
  (``vendor/**``, ``**/testdata``, ``a/**/b``), ``\\x`` a literal ``x``.
* A pattern without ``/`` (``*.dev.yaml``, ``node_modules``) matches any single component of
  the path, at any depth. A pattern containing ``/`` (``tests/fixtures``, ``/build``) is
  anchored: it matches the path relative to ``cwd`` (``/`` separators, leading ``/`` or ``./``
  ignored). A trailing ``/`` (``build/``) matches directories only.
* A matched directory excludes everything below it. Excludes apply to explicitly named files
  and directories too (pre-commit names every file it passes). Negation (``!``) is not
  supported: ``compile_excludes`` raises ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ExcludePattern:
    text: str
    regex: re.Pattern[str]
    anchored: bool  # matched against the whole relative path, else against each component
    dir_only: bool


def compile_excludes(patterns: Sequence[str]) -> tuple[ExcludePattern, ...]:
    """Compile exclude globs (semantics in the module docstring); ``ValueError`` if invalid."""
    return tuple(_compile_one(p) for p in patterns)


def _compile_one(text: str) -> ExcludePattern:
    if not isinstance(text, str):
        raise ValueError(f"exclude pattern must be a string, not {type(text).__name__}")
    body = text.strip()
    if not body:
        raise ValueError("empty exclude pattern")
    if body.startswith("!"):
        raise ValueError(f"exclude pattern {text!r}: negation ('!') is not supported")
    while body.startswith("./"):
        body = body[2:]
    dir_only = body.endswith("/")
    body = body.rstrip("/")
    anchored = "/" in body
    body = body.lstrip("/")
    if not body:
        raise ValueError(f"exclude pattern {text!r} matches nothing")
    return ExcludePattern(text, re.compile(_glob_to_regex(body) + r"\Z"), anchored, dir_only)


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                i += 2
                if glob.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        elif c == "[":
            j = i + 1
            if j < n and glob[j] in "!^":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            end = glob.find("]", j)
            if end == -1:
                out.append(re.escape(c))
            else:
                inner = glob[i + 1 : end]
                negate = inner[:1] in ("!", "^")
                if negate:
                    inner = inner[1:]
                body = "".join("\\" + ch if ch in "\\[]^&~|" else ch for ch in inner)
                out.append(f"(?!/)[{'^' if negate else ''}{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def hit(rel: str, is_dir: bool, patterns: Sequence[ExcludePattern]) -> bool:
    """Does a pattern match this path itself (its last component, or all of it if anchored)?"""
    if not patterns:
        return False
    name = rel.rpartition("/")[2]
    for p in patterns:
        if p.dir_only and not is_dir:
            continue
        if p.anchored:
            if p.regex.match(rel):
                return True
        elif name not in (".", "..") and p.regex.match(name):
            return True
    return False


def is_excluded(rel: str, is_dir: bool, patterns: Sequence[ExcludePattern]) -> bool:
    """Is ``rel`` (relative to cwd, ``/`` separators) or any directory above it excluded?"""
    if not patterns:
        return False
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        last = i == len(parts)
        if hit("/".join(parts[:i]), is_dir or not last, patterns):
            return True
    return False
