"""BuildKit's line grammar: parser directives, comment lines, continuation with the escape
character, empty continuation lines, heredocs (``<<EOF``, ``<<-EOF``, quoted delimiters, several
on one line) and the split of an instruction into command, flags and arguments.

It follows moby/buildkit frontend/dockerfile/parser line for line; ``tests/test_buildkit_oracle.py``
and ``bench/buildkit_agreement.py`` compare it with BuildKit's own parser.
"""

from __future__ import annotations

import io
import re
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from .words import GO_SPACE, Flag, extract_flags, heredoc_name, shell_words

WORD_RE = re.compile(r"[^\t\v\f\r ]+")
_GAP_RE = re.compile(r"[\t\v\f\r ]+")
# BuildKit's directive regex ends in a lazy (.+?)[blanks]*$, quadratic on a long run of blanks in
# Python: here the value is matched greedily and its trailing blanks are cut by _directive.
_DIRECTIVE_RE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+)\Z")
_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
_HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
INSTRUCTIONS = frozenset(
    {
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction as BuildKit sees it: continuations joined, comment lines dropped."""

    cmd: str  # as written ("FROM", "from")
    start_line: int
    end_line: int  # last line, heredoc bodies included
    text: str  # the logical line
    segments: Sequence[tuple[int, int, int]]  # (offset in text, line, 0-based column there)
    flags: tuple[Flag, ...]
    args_at: int  # arguments are text[args_at:args_end] (BuildKit's TrimSpace'd rest)
    args_end: int
    comments: tuple[str, ...]  # comment lines since the previous instruction, and inside it
    heredocs: tuple[str, ...] = ()

    @property
    def args(self) -> str:
        return self.text[self.args_at : self.args_end]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of the character at ``offset`` in ``text``."""
        i = bisect_right(self.segments, (offset, 1 << 62, 0)) - 1
        start, line, col = self.segments[max(i, 0)]
        return line, col + offset - start + 1


class _Segments(Sequence[tuple[int, int, int]]):
    """The segments of a continued instruction, one per physical line, kept in arrays: a
    continuation of millions of lines would otherwise hold a tuple (~120 bytes) per line."""

    __slots__ = ("offsets", "lines", "column")

    def __init__(self, line: int, column: int) -> None:
        self.offsets = array("q", [0])
        self.lines = array("q", [line])
        self.column = column  # of the first line; the others start at column 0

    def add(self, offset: int, line: int) -> None:
        self.offsets.append(offset)
        self.lines.append(line)

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> tuple[int, int, int]:  # type: ignore[override]
        if i < 0:
            i += len(self.offsets)
        return self.offsets[i], self.lines[i], self.column if i == 0 else 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))


class _Lines:
    """A text's lines as ``text.split("\\n")`` gives them (a final empty one dropped), cut out when
    read: a list of every line of a 50 MB file of short lines takes ~700 MB. Reading in order is
    constant time per line."""

    __slots__ = ("text", "count", "_index", "_pos")

    def __init__(self, text: str) -> None:
        self.text = text
        self.count = text.count("\n") + (0 if text == "" or text.endswith("\n") else 1)
        self._index = 0  # the line that starts at _pos
        self._pos = 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self.count:
            raise IndexError(i)
        if i < self._index:
            self._index, self._pos = 0, 0
        while self._index < i:
            self._pos = self.text.index("\n", self._pos) + 1
            self._index += 1
        end = self.text.find("\n", self._pos)
        return self.text[self._pos :] if end < 0 else self.text[self._pos : end]

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self.count))


@dataclass(frozen=True)
class Directive:
    name: str  # lower case
    value: str
    line: int
    column: int  # 1-based column of the value


@dataclass(frozen=True)
class Scan:
    """What the line reader found: instructions, directives, comments, fatal-to-BuildKit errors."""

    instructions: tuple[Instruction, ...]
    escape: str
    directives: tuple[Directive, ...]  # escape/syntax/check as the parser reads them
    syntax: Directive | None  # the syntax directive as BuildKit's DetectSyntax reads it
    comments: tuple[tuple[int, str], ...]  # (line, text from '#') of every comment line
    errors: tuple[tuple[int, int, str], ...]  # (line, column, message)


def scan(text: str, keep: Callable[[Instruction], bool] | None = None) -> Scan:
    """Split a Dockerfile into instructions exactly like BuildKit's parser.

    ``keep`` (default: all) chooses the instructions to return; the others are dropped as soon
    as they are read, so a huge file does not hold one object per line.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _Lines(text)
    errors: list[tuple[int, int, str]] = []
    directives, escape = _parser_directives(lines, errors)
    comments: list[tuple[int, str]] = []
    pending: list[str] = []
    out: list[Instruction] = []
    n = len(lines)
    i = 0
    while i < n:
        raw = lines[i].rstrip("\r")
        i += 1
        first = raw.lstrip(GO_SPACE)
        if first.startswith("#"):
            comments.append((i, first))
            pending.append(first)
            continue
        line, done = _trim_continuation(first, escape)
        if done and line == "":
            continue
        start_line = i
        segments: Sequence[tuple[int, int, int]] = ((0, i, len(raw) - len(first)),)
        if not done:
            segs = _Segments(i, len(raw) - len(first))
            joined = io.StringIO(line)  # repeated += is quadratic on long continuations
            joined.seek(0, io.SEEK_END)
            length = len(line)
            while not done and i < n:
                raw = lines[i].rstrip("\r")
                i += 1
                stripped = raw.lstrip(GO_SPACE)
                if stripped.startswith("#"):
                    comments.append((i, stripped))
                    pending.append(stripped)
                    continue
                if stripped == "":
                    continue  # empty continuation line (BuildKit warns, keeps going)
                piece, done = _trim_continuation(raw, escape)
                segs.add(length, i)
                joined.write(piece)
                length += len(piece)
            line, segments = joined.getvalue(), segs
        ins = _instruction(line, start_line, segments, pending)
        pending = []
        docs = _heredocs(ins) if "<<" in line else []
        for name, chomp in docs:
            terminated = False
            while i < n:
                body = lines[i].rstrip("\r")
                i += 1
                if (body.lstrip("\t") if chomp else body) == name:
                    terminated = True
                    break
            if not terminated:
                line_no, col = ins.position(ins.args_at if ins.args_end > ins.args_at else 0)
                errors.append((line_no, col, f"unterminated heredoc <<{name}: no line '{name}' closes it"))
                break
        if i != start_line or docs:
            ins = replace(ins, end_line=i, heredocs=tuple(name for name, _ in docs))
        if keep is None or keep(ins):
            out.append(ins)
    return Scan(tuple(out), escape, tuple(directives), _detect_syntax(lines), tuple(comments), tuple(errors))


def _trim_continuation(line: str, esc: str) -> tuple[str, bool]:
    """BuildKit's line-continuation regex: the escape char last (spaces/tabs may follow), not doubled."""
    body = line.rstrip(" \t")
    if not body.endswith(esc):
        return line, True
    k = len(body) - 1
    if k == 0:
        return "", False
    if body[k - 1] == esc:
        return line, True
    return line[:k], False


def _parser_directives(lines: _Lines, errors: list[tuple[int, int, str]]) -> tuple[list[Directive], str]:
    """Directives as the parser reads them (leading whitespace allowed); returns the escape char."""
    found: list[Directive] = []
    escape = "\\"
    seen: set[str] = set()
    for no, raw in enumerate(lines, start=1):
        token = raw.rstrip("\r").lstrip(GO_SPACE)
        d = _directive(token)
        if d is None or d[0].lower() not in _DIRECTIVES:
            break
        name, value = d[0].lower(), d[1]
        col = len(raw) - len(token) + d[2] + 1
        if name in seen:
            errors.append((no, 1, f"only one '{name}' parser directive can be used (BuildKit rejects the file)"))
            break
        seen.add(name)
        if name == "escape":
            if value not in ("\\", "`"):
                errors.append((no, col, f"invalid escape character {value!r}: use ` or \\"))
            else:
                escape = value
        found.append(Directive(name, value, no, col))
    return found, escape


def _detect_syntax(lines: _Lines) -> Directive | None:
    """BuildKit's DetectSyntax: a shebang line is skipped, directives start at column 1."""
    start = 1 if lines and lines[0].startswith("#!") else 0
    seen: set[str] = set()
    for no in range(start, len(lines)):
        raw = lines[no][:-1] if lines[no].endswith("\r") else lines[no]
        d = _directive(raw)
        if d is None or d[0].lower() not in _DIRECTIVES:
            return None
        name = d[0].lower()
        if name in seen:
            return None
        seen.add(name)
        if name == "syntax":
            return Directive(name, d[1], no + 1, d[2] + 1)
    return None


def _directive(line: str) -> tuple[str, str, int] | None:
    """(name as written, value, offset of the value) of a directive-shaped line, else None."""
    m = _DIRECTIVE_RE.match(line)
    if m is None:
        return None
    raw = m.group(2)
    return m.group(1), raw.rstrip("\t\n\f\r ") or raw, m.start(2)  # all blanks: the last one, as BuildKit


def _instruction(
    line: str, start_line: int, segments: Sequence[tuple[int, int, int]], comments: list[str]
) -> Instruction:
    lead = len(line) - len(line.lstrip(GO_SPACE))
    end = len(line.rstrip(GO_SPACE))
    m = WORD_RE.match(line, lead, end)
    if m is None:  # only Unicode spaces: BuildKit gets an empty command
        return Instruction("", start_line, start_line, line, _frozen(segments), (), end, end, tuple(comments))
    cmd = sys.intern(m.group(0))  # one "RUN" string for a million RUN lines
    rest = m.end()
    gap = _GAP_RE.match(line, rest, end)
    flags: list[Flag] = []
    args_at = end
    if gap is not None:
        flags, args_at = extract_flags(line, gap.end(), end)
        while args_at < end and line[args_at] in GO_SPACE:
            args_at += 1
    return Instruction(
        cmd, start_line, start_line, line, _frozen(segments), tuple(flags), args_at, max(args_at, end), tuple(comments)
    )


def _frozen(segments: Sequence[tuple[int, int, int]]) -> Sequence[tuple[int, int, int]]:
    return segments if isinstance(segments, (tuple, _Segments)) else tuple(segments)


def _heredocs(ins: Instruction) -> list[tuple[str, bool]]:
    """Heredoc (name, strip-tabs) pairs an instruction opens, as BuildKit finds them."""
    cmd = ins.cmd.lower()
    args = ins.args
    if cmd == "onbuild":  # the trigger instruction decides
        sub = _instruction(args, 0, [(0, 0, 0)], [])
        cmd, args = sub.cmd.lower(), sub.args
    if cmd not in _HEREDOC_COMMANDS or _is_json_array(args):
        return []
    docs: list[tuple[str, bool]] = []
    for word in shell_words(ins.text) or ():
        m = _HEREDOC_RE.match(word)
        if m is None or m.group(3) == "":
            continue
        name = heredoc_name(m.group(3))
        if name is not None:
            docs.append((name, m.group(2) == "-"))
    return docs


def _is_json_array(args: str) -> bool:
    rest = args.lstrip(GO_SPACE)
    if not rest.startswith("["):
        return False
    import json  # only for the rare JSON-form line that contains "<<"

    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return False
    return isinstance(value, list)
