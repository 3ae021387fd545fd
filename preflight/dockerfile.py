"""Dockerfile reader: BuildKit's line grammar, the images a file names, ARG resolution.

The reader follows BuildKit's parser (moby/buildkit frontend/dockerfile/parser) line for line:
parser directives at the very top (``# syntax=``, ``# escape=``, ``# check=``), ``#`` comment
lines (dropped, also inside a continued instruction), continuation with the escape character,
empty continuation lines, and heredocs (``<<EOF``, ``<<-EOF``, quoted delimiters, several on one
line) whose bodies are never instructions. It is written here instead of using dockerfile-parse,
which turns heredoc bodies into instructions and keeps no columns.

Images: every ``FROM``, ``COPY --from=<image>``, ``RUN --mount=...,from=<image>`` and the
``# syntax=`` directive. Stage names, stage indexes (``COPY --from=0``) and ``scratch`` are not
images. ``FROM`` sees only stages defined earlier; ``--from`` and ``from=`` see every stage of
the file, as in BuildKit.

Variables, as BuildKit resolves them:
* ``FROM`` (image and ``--platform``) sees the global ARGs (before the first FROM) and the
  predefined platform args BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, TARGETPLATFORM,
  TARGETOS, TARGETARCH, TARGETVARIANT. Those are linux/amd64 unless ``target_platform`` is given
  (it sets the TARGET* values; the BUILD* values stay linux/amd64).
* ``build_args`` override the default of a *declared* ARG only; an undeclared build arg is not
  visible (BuildKit warns "UndefinedArgInFrom").
* A variable without a value gives ``resolved=None`` plus the names of the variables that have
  no value (an ARG whose default needs a missing variable reports that variable). Never a guess.
* BuildKit refuses variables in ``COPY --from`` and ``RUN --mount from=`` (docker build fails):
  that is a PF001 problem; the use is still resolved with the stage's ARGs (podman/buildah
  expand them). ENV values are not tracked.
* ``${V#p}``, ``${V%p}``, ``${V/p/r}`` (valid in BuildKit, not supported by
  ``preflight.interpolate``) leave the value unknown (``resolved=None``) without a problem.

Problems: PF001 for what BuildKit rejects and that affects image references (FROM without an
image or with a bad stage name, unknown FROM flag, unknown instructions, instructions before the
first FROM, a file with instructions but no FROM, unterminated heredoc, bad or repeated parser
directives, variables in ``--from``, invalid stage index). PF002 for malformed variable syntax. An empty
file or one with only comments yields no uses and no problem.
"""

from __future__ import annotations

import io
import re
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .imageref import MAX_REFERENCE_LENGTH, ImageRef, ReferenceError
from .interpolate import (
    MAX_EXPANSION,
    Budget,
    Dialect,
    ExpansionError,
    ExpansionTooCostly,
    ExpansionTooLong,
    expand,
)
from .model import Document, ImageUse, Location, Problem, Suppression, Suppressions, UseKind, ValueSource, clip
from .platforms import normalize_platform
from .suppress import parse_directive

# Go's unicode.IsSpace (strings.TrimSpace, bytes.TrimLeftFunc) and the parser's [\t\v\f\r ].
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_WORD_RE = re.compile(r"[^\t\v\f\r ]+")
_GAP_RE = re.compile(r"[\t\v\f\r ]+")
# BuildKit's directive regex ends in a lazy (.+?)[blanks]*$, quadratic on a long run of blanks in
# Python: here the value is matched greedily and its trailing blanks are cut by _directive.
_DIRECTIVE_RE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+)\Z")
_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
_HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
_INSTRUCTIONS = frozenset(
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
_STAGE_NAME_RE = re.compile(r"[a-z][a-z0-9-_.]*\Z")
_INDEX_RE = re.compile(r"[+-]?[0-9]{1,18}\Z")
_DEFAULT_PLATFORM = ("linux", "amd64", "")


# ------------------------------------------------------------------ the line reader


@dataclass(frozen=True, slots=True)
class Flag:
    """A ``--name=value`` word before the arguments, quotes and backslashes processed."""

    text: str  # "--from=build"
    offsets: tuple[int, ...]  # offset in Instruction.text of each character of ``text``


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
        first = raw.lstrip(_GO_SPACE)
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
                stripped = raw.lstrip(_GO_SPACE)
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
        token = raw.rstrip("\r").lstrip(_GO_SPACE)
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
    lead = len(line) - len(line.lstrip(_GO_SPACE))
    end = len(line.rstrip(_GO_SPACE))
    m = _WORD_RE.match(line, lead, end)
    if m is None:  # only Unicode spaces: BuildKit gets an empty command
        return Instruction("", start_line, start_line, line, _frozen(segments), (), end, end, tuple(comments))
    cmd = sys.intern(m.group(0))  # one "RUN" string for a million RUN lines
    rest = m.end()
    gap = _GAP_RE.match(line, rest, end)
    flags: list[Flag] = []
    args_at = end
    if gap is not None:
        flags, args_at = _extract_flags(line, gap.end(), end)
        while args_at < end and line[args_at] in _GO_SPACE:
            args_at += 1
    return Instruction(
        cmd, start_line, start_line, line, _frozen(segments), tuple(flags), args_at, max(args_at, end), tuple(comments)
    )


def _frozen(segments: Sequence[tuple[int, int, int]]) -> Sequence[tuple[int, int, int]]:
    return segments if isinstance(segments, (tuple, _Segments)) else tuple(segments)


def _extract_flags(s: str, i: int, n: int) -> tuple[list[Flag], int]:
    """BuildKit's extractBuilderFlags: leading ``--words``, quotes and ``\\`` processed."""
    flags: list[Flag] = []
    while True:
        while i < n and s[i] in _GO_SPACE:
            i += 1
        if i >= n:
            return flags, n
        if not (s[i] == "-" and i + 1 < n and s[i + 1] == "-"):
            return flags, i
        chars: list[str] = []
        offsets: list[int] = []
        quote = ""
        blank_ok = False
        while i < n:
            ch = s[i]
            if not quote and ch in _GO_SPACE:
                break
            if not quote and ch in "'\"":
                quote, blank_ok = ch, True
                i += 1
                continue
            if quote and ch == quote:
                quote = ""
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                i += 1
                ch = s[i]
            chars.append(ch)
            offsets.append(i)
            i += 1
        word = "".join(chars)
        if word == "--":
            return flags, i
        if blank_ok or word:
            flags.append(Flag(word, tuple(offsets)))


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
    for word in _shell_words(ins.text) or ():
        m = _HEREDOC_RE.match(word)
        if m is None or m.group(3) == "":
            continue
        name = _heredoc_name(m.group(3))
        if name is not None:
            docs.append((name, m.group(2) == "-"))
    return docs


def _is_json_array(args: str) -> bool:
    rest = args.lstrip(_GO_SPACE)
    if not rest.startswith("["):
        return False
    import json  # only for the rare JSON-form line that contains "<<"

    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return False
    return isinstance(value, list)


def _shell_words(s: str) -> list[str] | None:
    """Split like BuildKit's shell lexer with raw quotes and escapes (words are substrings).

    None when the lexer fails (unterminated quote or ``${``): BuildKit then finds no heredoc.
    """
    words: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in _GO_SPACE:
            i += 1
            continue
        start = i
        while i < n and s[i] not in _GO_SPACE:
            i = _token_end(s, i)
            if i < 0:
                return None
        words.append(s[start:i])
    return words


def _token_end(s: str, i: int) -> int:
    """End of the quoted string, escape pair, ``${...}`` or character at ``s[i]``; -1 if unterminated."""
    n = len(s)
    ch = s[i]
    if ch == "'":
        close = s.find("'", i + 1)
        return -1 if close < 0 else close + 1
    if ch == '"':
        j = i + 1
        while j < n and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return -1 if j >= n else j + 1
    if ch == "\\":
        return min(i + 2, n)
    if s.startswith("${", i):
        close = s.find("}", i)
        return -1 if close < 0 or s[i + 2] in "{}:" else close + 1
    return i + 1


def _heredoc_name(rest: str) -> str | None:
    """The delimiter word with quotes removed; None unless ``rest`` is exactly one word."""
    words = _shell_words(rest)
    if words is None or len(words) != 1:
        return None
    out: list[str] = []
    word, i, quote = words[0], 0, ""
    while i < len(word):
        ch = word[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(word):
                i += 1
                out.append(word[i])
            else:
                out.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == "\\" and i + 1 < len(word):
            i += 1
            out.append(word[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _parse_words(s: str, i: int, n: int, esc: str) -> list[tuple[str, int]]:
    """BuildKit's parseWords (ARG): whitespace-separated words, quotes and escapes kept."""
    words: list[tuple[str, int]] = []
    while i < n:
        while i < n and s[i] in _GO_SPACE:
            i += 1
        if i >= n:
            break
        start = i
        chars: list[str] = []
        quote = ""
        while i < n:
            ch = s[i]
            if not quote and ch in _GO_SPACE:
                break
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            if ch == esc and quote != "'":
                if i + 1 == n:
                    i += 1
                    quote = ""
                    continue
                chars.append(ch)
                i += 1
                ch = s[i]
            chars.append(ch)
            i += 1
        words.append(("".join(chars), start))
    return words


# ------------------------------------------------------------------ variables


@dataclass(frozen=True)
class _Value:
    """A variable's value or an expansion's result; ``text is None`` when unknown."""

    text: str | None
    missing: tuple[str, ...] = ()  # variables without a value it depends on
    errors: tuple[str, ...] = ()  # ${V:?msg} messages
    host: bool = False  # derived from a predefined platform arg
    origin: str = "arg"  # where a variable's value comes from (ValueSource.origin)
    where: Location | None = None  # an ARG default written literally: its text
    sources: tuple[ValueSource, ...] = ()  # an expansion's variables: where each got its value
    too_long: bool = False  # an ARG whose value expands past MAX_EXPANSION: never built, an error where used
    too_costly: bool = False  # an ARG whose patterns ran out of the file's matching budget: an error where used


def _platform_values(target_platform: str | None) -> dict[str, _Value]:
    """The predefined platform args: BUILD* are linux/amd64, TARGET* follow ``target_platform``."""
    out: dict[str, _Value] = {}
    for prefix, (os_, arch, variant) in (("BUILD", _DEFAULT_PLATFORM), ("TARGET", _platform_parts(target_platform))):
        platform = f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"
        for key, val in (("PLATFORM", platform), ("OS", os_), ("ARCH", arch), ("VARIANT", variant)):
            out[prefix + key] = _Value(val, host=True, origin="platform")
    return out


def _platform_parts(platform: str | None) -> tuple[str, str, str]:
    """``os/arch[/variant]`` normalized as containerd does (preflight.platforms); linux/amd64 if unusable."""
    written = [b.strip() for b in (platform or "").split("/")]
    if len(written) < 2 or not written[0] or not written[1]:
        return _DEFAULT_PLATFORM  # checked as written: normalizing drops empty parts (linux//v7 -> linux/v7)
    bits = normalize_platform(platform or "").split("/")
    return bits[0], bits[1], bits[2] if len(bits) > 2 else ""


def _evaluate(
    word: str,
    scope: Mapping[str, _Value],
    dialect: Dialect,
    limit: int = MAX_EXPANSION,
    budget: Budget | None = None,
) -> _Value:
    """Expand ``word`` in ``scope``. Raises ExpansionError for malformed syntax, ExpansionTooLong
    past ``limit`` characters or when a variable it uses is too long itself, ExpansionTooCostly
    when its patterns (or a variable's) exhaust ``budget``."""
    if "$" not in word and (dialect.escape or "\\") not in word and "'" not in word and '"' not in word:
        return _Value(word)
    used: list[str] = []

    def lookup(name: str) -> str | None:
        used.append(name)
        v = scope.get(name)
        if v is not None and v.too_long:
            raise ExpansionTooLong(MAX_EXPANSION, name)
        if v is not None and v.too_costly:
            raise ExpansionTooCostly(name)
        return None if v is None else v.text

    exp = expand(word, lookup, dialect, limit, budget)
    missing: list[str] = []
    errors = list(exp.errors)
    for name in exp.unresolved:
        v = scope.get(name)
        if v is None:
            missing.append(name)
        else:
            missing.extend(v.missing)
            errors.extend(v.errors)
    host = any(scope[name].host for name in set(used) if name in scope)
    text = None if errors else exp.text
    sources = tuple(_source(name, scope.get(name)) for name in dict.fromkeys(used))
    return _Value(text, tuple(dict.fromkeys(missing)), tuple(dict.fromkeys(errors)), host, sources=sources)


def _source(name: str, value: _Value | None) -> ValueSource:
    if value is None or value.text is None:
        return ValueSource(name, "unset")
    return ValueSource(name, value.origin, value.where)


# ------------------------------------------------------------------ documents


def looks_like_dockerfile(text: str) -> bool:
    """For a file named explicitly whose name says nothing: at least half of its instructions
    (first words of its lines outside comments, heredocs and continuations) are Dockerfile
    instructions. A README that quotes a ``FROM`` line among prose is not a Dockerfile."""
    known = total = 0

    def count(ins: Instruction) -> bool:
        nonlocal known, total
        total += 1
        known += ins.cmd.lower() in _INSTRUCTIONS
        return False

    scan(text, keep=count)
    return known > 0 and 2 * known >= total


def parse_dockerfile(
    text: str,
    path: str,
    build_args: Mapping[str, str] | None = None,
    target_platform: str | None = None,
    named_contexts: Mapping[str, str | None] | None = None,
) -> Document:
    """Read a Dockerfile: its image uses, problems, suppressions and stage names. Never raises.

    ``named_contexts``: BuildKit named build contexts (compose ``additional_contexts``,
    ``--build-context``): a ``FROM``/``--from``/``from=`` name found there is not the image of that
    name. The value is the image to check in its place at that use (``docker-image://`` given on
    the command line), or None when there is none to check here (a directory, a URL, another
    service, or an image the compose file reports at its own position).
    """
    try:
        return _Reader(text, path, dict(build_args or {}), target_platform, dict(named_contexts or {})).run()
    except Exception as exc:  # a bug in the reader must not end the run
        return Document(
            path=path,
            kind="dockerfile",
            problems=(
                Problem(
                    "PF001",
                    Location(path, 1, 1),
                    f"preflight could not read this Dockerfile (internal error: {exc!r}); please report it",
                ),
            ),
        )


NOT_A_DOCKERFILE = "not a Dockerfile: no line starts with a Dockerfile instruction (FROM, RUN, COPY, ...); not checked"
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,23}\Z")


def _unknown_instruction(cmd: str) -> str:
    """The message for an unknown instruction: the keyword is quoted only when it looks like one
    (a short word), so a line of a file that is not a Dockerfile is never repeated in output."""
    if _KEYWORD_RE.match(cmd):
        return f"unknown instruction {cmd!r} (BuildKit rejects the file)"
    return "unknown instruction: the line does not start with an instruction keyword (BuildKit rejects the file)"


def _relevant() -> Callable[[Instruction], bool]:
    """The instructions the reader looks at: all up to the first FROM (anything but ARG there is
    an error), then FROM, ARG, COPY/RUN with flags, unknown ones and those with comments."""
    seen_from = False

    def keep(ins: Instruction) -> bool:
        nonlocal seen_from
        cmd = ins.cmd.lower()
        if not seen_from:
            seen_from = cmd == "from"
            return True
        return (
            bool(ins.comments)
            or cmd in ("from", "arg")
            or cmd not in _INSTRUCTIONS
            or (bool(ins.flags) and cmd in ("copy", "run"))
        )

    return keep


@dataclass
class _Stage:
    name: str | None  # as written after AS
    scope: dict[str, _Value] = field(default_factory=dict)


class _Reader:
    def __init__(
        self,
        text: str,
        path: str,
        build_args: dict[str, str],
        target_platform: str | None,
        named_contexts: dict[str, str | None],
    ) -> None:
        self.scan = scan(text, keep=_relevant())
        self.path = path
        self.build_args = build_args
        self.named_contexts = named_contexts
        self.dialect = Dialect.buildkit(self.scan.escape)
        self.budget = Budget.for_text(text)  # pattern matching, for the whole file
        self.uses: list[ImageUse] = []
        self.problems: list[Problem] = []
        self.globals: dict[str, _Value] = _platform_values(target_platform)  # + global ARGs
        self.stages: list[_Stage] = []
        self.earlier: set[str] = set()  # lower-cased names of the stages defined so far
        self.stage_order, self.stage_count = _stage_names(self.scan.instructions)
        self.all_names = set(self.stage_order)

    # -- driver

    def run(self) -> Document:
        sc = self.scan
        if sc.instructions and not any(ins.cmd.lower() in _INSTRUCTIONS for ins in sc.instructions):
            # Not a Dockerfile at all (a build pointed at /etc/passwd, a key file): one problem, and
            # nothing of its content is quoted.
            line, col = sc.instructions[0].position(0)
            self.problem("PF001", line, col, NOT_A_DOCKERFILE)
            return Document(path=self.path, kind="dockerfile", problems=tuple(self.problems))
        for line, col, message in sc.errors:
            self.problem("PF001", line, col, message)
        if sc.syntax is not None:
            self.syntax_use(sc.syntax)
        has_from = any(ins.cmd.lower() == "from" for ins in sc.instructions)
        if sc.instructions and not has_from:
            line, col = sc.instructions[0].position(0)
            self.problem("PF001", line, col, "no FROM instruction: the file has no build stage (BuildKit rejects it)")
        for ins in sc.instructions:
            self.instruction(ins, has_from)
        return Document(
            path=self.path,
            kind="dockerfile",
            uses=tuple(self.uses),
            problems=tuple(self.problems),
            suppressions=self.suppressions(),
        )

    def instruction(self, ins: Instruction, has_from: bool) -> None:
        cmd = ins.cmd.lower()
        if cmd not in _INSTRUCTIONS:
            line, col = ins.position(0)
            self.problem("PF001", line, col, _unknown_instruction(ins.cmd), end=(line, col + len(ins.cmd)))
        elif cmd == "from":
            self.from_(ins)
        elif cmd == "arg":
            self.arg(ins)
        elif not self.stages:
            if has_from:
                line, col = ins.position(0)
                self.problem(
                    "PF001",
                    line,
                    col,
                    f"{ins.cmd.upper()} before the first FROM: only ARG may come first"
                    ' (BuildKit: "no build stage in current context")',
                )
        elif cmd == "copy":
            self.copy(ins)
        elif cmd == "run":
            self.run_mounts(ins)

    def suppressions(self) -> Suppressions:
        """``ignore=`` covers every line of the next instruction (or the one the comment is in);
        ``ignore-file=`` the whole file. A comment after the last instruction covers nothing."""
        entries: list[Suppression] = []
        instructions = self.scan.instructions
        ends = [ins.end_line for ins in instructions]
        for line, comment in self.scan.comments:
            d = parse_directive(comment)
            if d is None:
                continue
            where = Location(self.path, line, 1)
            if d.file_wide:
                entries.append(Suppression(where, d.rules, None))
                continue
            i = bisect_left(ends, line)
            covered = range(instructions[i].start_line, instructions[i].end_line + 1) if i < len(ends) else ()
            entries.append(Suppression(where, d.rules, frozenset(covered)))
        return Suppressions.of(tuple(entries))

    # -- helpers

    def problem(self, rule: str, line: int, column: int, message: str, end: tuple[int, int] | None = None) -> None:
        loc = Location(self.path, line, column, end[0] if end else None, end[1] if end else None)
        self.problems.append(Problem(rule, loc, message))

    def span(self, ins: Instruction, first: int, last: int) -> Location:
        """Location of text[first:last+1] (``last`` inclusive)."""
        line, col = ins.position(first)
        end_line, end_col = ins.position(last)
        return Location(self.path, line, col, end_line, end_col + 1)

    def evaluate(self, word: str, scope: Mapping[str, _Value], loc: Location, what: str) -> _Value | None:
        arg = what.startswith("ARG ")
        try:
            return _evaluate(word, scope, self.dialect, MAX_EXPANSION if arg else MAX_REFERENCE_LENGTH, self.budget)
        except (ExpansionTooLong, ExpansionTooCostly) as exc:
            long = isinstance(exc, ExpansionTooLong)
            if arg:  # only an error where it is used in an image reference (a RUN line is never expanded here)
                return _Value(None, too_long=long, too_costly=not long)
            tail = (
                ""
                if "platform" in what or not long
                else f"; no valid image reference is that long (at most {MAX_REFERENCE_LENGTH})"
            )
            self.problems.append(Problem("PF002", loc, f"{what} {clip(word)!r}: {exc}{tail}"))
            return None
        except ExpansionError as exc:
            # In an image reference it is an invalid reference (PF002); anywhere else (an ARG
            # value) BuildKit rejects the whole file: a parse error (PF001).
            rule = "PF001" if what.startswith("ARG ") else "PF002"
            tail = "; BuildKit rejects the file" if rule == "PF001" else ""
            self.problems.append(Problem(rule, loc, f"invalid variable syntax in {what} {clip(word)!r}: {exc}{tail}"))
            return None

    def add_use(
        self,
        kind: UseKind,
        loc: Location,
        written: str,
        res: _Value,
        platform: str | None = None,
        stage: str | None = None,
        pinned: bool = False,
        visible: tuple[str, ...] = (),
        later: tuple[str, ...] = (),
    ) -> None:
        self.uses.append(
            ImageUse(
                kind=kind,
                location=loc,
                written=written,
                resolved=res.text,
                unresolved=res.missing,
                var_errors=res.errors,
                platform=platform,
                stage=stage,
                platform_pinned=pinned or platform is not None,
                stages=visible,
                later_stages=later,
                sources=res.sources,
            )
        )

    def named_context(self, res: _Value) -> _Value | None:
        """The value to check for a name that may be a named build context: unchanged when it is
        none, the context's image when it names one, None when there is nothing to check."""
        if res.text is None or not self.named_contexts:
            return res
        for key in _context_keys(res.text):
            if key in self.named_contexts:
                image = self.named_contexts[key]
                return None if image is None else _Value(image)
        return res

    def stage_scope(self) -> dict[str, _Value]:
        return self.stages[-1].scope if self.stages else self.globals

    # -- instructions

    def syntax_use(self, d: Directive) -> None:
        image = d.value.split(" ", 1)[0]
        loc = Location(self.path, d.line, d.column, d.line, d.column + len(image))
        self.uses.append(ImageUse(kind=UseKind.SYNTAX, location=loc, written=image, resolved=image))

    def from_(self, ins: Instruction) -> None:
        words = [(m.group(0), m.start()) for m in _WORD_RE.finditer(ins.text, ins.args_at, ins.args_end)]
        line, col = ins.position(0)
        name: str | None = None
        if not words:
            self.problem("PF001", line, col, "FROM needs an image: FROM <image> [AS <name>]")
        elif len(words) == 3 and words[1][0].lower() == "as":
            name = words[2][0]
            if not _STAGE_NAME_RE.match(name.lower()):
                self.problem(
                    "PF001",
                    *ins.position(words[2][1]),
                    f"invalid stage name {name!r}: it must start with a letter and contain only"
                    " letters, digits, '-', '_' and '.'",
                )
                name = None
        elif len(words) == 2 and words[1][0].lower() == "as":
            self.problem("PF001", *ins.position(words[1][1]), "FROM ... AS needs a stage name")
        elif len(words) != 1:
            self.problem(
                "PF001",
                *ins.position(words[1][1]),
                f"FROM takes one image and optionally AS <name>; found {len(words)} words",
            )
        platform, pinned = self.from_platform(ins)
        if len(words) == 1 or (len(words) in (2, 3) and words[1][0].lower() == "as"):
            self.from_image(ins, words[0], platform, name, pinned)  # else which word is the image is unclear
        self.stages.append(_Stage(name))
        if name is not None:
            self.earlier.add(name.lower())

    def from_platform(self, ins: Instruction) -> tuple[str | None, bool]:
        """(the literal platform, whether the FROM names a platform at all)."""
        platform: str | None = None
        seen = pinned = False
        for flag in ins.flags:
            key, eq, value = flag.text[2:].partition("=")
            first = flag.offsets[0] if flag.offsets else 0
            if key != "platform":
                self.problem("PF001", *ins.position(first), f"unknown flag --{key} for FROM (only --platform)")
                continue
            if seen:
                self.problem("PF001", *ins.position(first), "duplicate flag --platform")
            seen = True
            if not eq:
                self.problem(
                    "PF001", *ins.position(first), "missing a value on flag --platform (use --platform=<os/arch>)"
                )
                continue
            if not value:
                continue
            pinned = True
            at = len("--platform=")
            loc = self.span(ins, flag.offsets[at], flag.offsets[-1])
            res = self.evaluate(value, self.globals, loc, "FROM --platform")
            platform = None
            if res is not None and res.text and not res.host and not res.errors:
                platform = res.text
        return platform, pinned

    def from_image(
        self, ins: Instruction, word: tuple[str, int], platform: str | None, name: str | None, pinned: bool = False
    ) -> None:
        written, at = word
        loc = self.span(ins, at, at + len(written) - 1)
        res = self.evaluate(written, self.globals, loc, "FROM")
        if res is None:
            return
        if res.text is not None and (res.text in self.earlier or res.text == "scratch"):
            return  # BuildKit matches the base name against lower-cased stage names, as is
        res = self.named_context(res)
        if res is None:
            return
        earlier = tuple(s for s in self.stage_order if s in self.earlier)
        later = tuple(s for s in self.stage_order if s not in self.earlier and s != (name or "").lower())
        self.add_use(
            UseKind.FROM, loc, written, res, platform=platform, stage=name, pinned=pinned, visible=earlier, later=later
        )

    def arg(self, ins: Instruction) -> None:
        in_stage = bool(self.stages)
        scope = self.stage_scope()
        for word, at in _parse_words(ins.text, ins.args_at, ins.args_end, self.dialect.escape or "\\"):
            key, eq, default = word.partition("=")
            if not key:
                continue
            if key in self.build_args:
                scope[key] = _Value(self.build_args[key], origin="build-arg")
            elif eq:
                start = at + len(key) + 1
                loc = self.span(ins, start, max(start, at + len(word) - 1))
                res = self.evaluate(default, scope, loc, f"ARG {key}")
                literal = (
                    bool(default) and ins.text[at : at + len(word)] == word and res is not None and not res.sources
                )
                where = loc if literal and loc.line == loc.end_line else None
                scope[key] = _Value(None) if res is None else replace(res, origin="arg", where=where, sources=())
            elif in_stage:
                if key in self.globals:
                    scope[key] = self.globals[key]
                else:
                    scope[key] = _Value(None, (key,))
            elif key not in scope:
                scope[key] = _Value(None, (key,))

    def copy(self, ins: Instruction) -> None:
        seen = False
        for flag in ins.flags:
            key, eq, value = flag.text[2:].partition("=")
            if key != "from":
                continue
            first = flag.offsets[0] if flag.offsets else 0
            if seen:
                self.problem("PF001", *ins.position(first), "duplicate flag --from")
            seen = True
            if not eq:
                self.problem(
                    "PF001", *ins.position(first), "missing a value on flag --from (use --from=<stage or image>)"
                )
                continue
            if not value:
                continue
            at = len("--from=")
            loc = self.span(ins, flag.offsets[at], flag.offsets[-1])
            written = ins.text[flag.offsets[at] : flag.offsets[-1] + 1]
            if self.refuses_variables(value, loc, "COPY --from"):
                self.ref_use(UseKind.COPY_FROM, loc, written, value)
                continue
            if _INDEX_RE.match(value):
                if not 0 <= int(value) < self.stage_count:
                    self.problem(
                        "PF001",
                        loc.line,
                        loc.column,
                        f"invalid stage index {value}: the file has {self.stage_count} stage(s)",
                    )
                continue
            self.ref_use(UseKind.COPY_FROM, loc, written, value)

    def run_mounts(self, ins: Instruction) -> None:
        for flag in ins.flags:
            key, eq, value = flag.text[2:].partition("=")
            if key != "mount" or not eq:
                continue
            base = len("--mount=")
            for field_text, offsets in _csv_fields(value):
                fkey, feq, fvalue = field_text.partition("=")
                if fkey.lower() != "from" or not feq or not fvalue:
                    continue
                vstart = len(fkey) + 1
                first = flag.offsets[base + offsets[vstart]]
                last = flag.offsets[base + offsets[-1]]
                loc = self.span(ins, first, last)
                written = ins.text[first : last + 1]
                self.refuses_variables(fvalue, loc, "RUN --mount from=", mount=True)
                self.ref_use(UseKind.MOUNT_FROM, loc, written, fvalue)

    def refuses_variables(self, value: str, loc: Location, what: str, mount: bool = False) -> bool:
        """BuildKit refuses variables in --from / from=: report it (docker build fails there)."""
        if mount:
            refused = re.search(r"\$.", value) is not None
        else:
            try:
                refused = expand(value, lambda _n: "", self.dialect).text != value
            except ExpansionError:
                refused = "$" in value
        if refused:
            self.problems.append(
                Problem(
                    "PF001",
                    loc,
                    f"docker build (BuildKit) does not expand variables in {what} ({value!r}); declare the image"
                    " with a global ARG in a stage (FROM ${IMAGE} AS name) and use that stage name",
                )
            )
        return refused

    def ref_use(self, kind: UseKind, loc: Location, written: str, value: str) -> None:
        """A --from / from= value: a stage of the file (any case), or an image."""
        res = self.evaluate(value, self.stage_scope(), loc, "--from")
        if res is None:
            return
        if res.text is not None and (res.text.lower() in self.all_names or res.text == "scratch"):
            return
        res = self.named_context(res)
        if res is None:
            return
        current = self.stages[-1].name if self.stages else None
        others = tuple(s for s in self.stage_order if s != (current or "").lower())
        self.add_use(kind, loc, written, res, stage=current, visible=others)


def _context_keys(name: str) -> tuple[str, ...]:
    """The names under which BuildKit looks up a named context for ``name``: as written, and its
    normalized familiar form without ``:latest`` (``docker.io/library/alpine:latest`` -> ``alpine``)."""
    try:
        familiar = ImageRef.parse(name).familiar
    except ReferenceError:
        return (name,)
    return (name, familiar.removesuffix(":latest"))


def _stage_names(instructions: tuple[Instruction, ...]) -> tuple[tuple[str, ...], int]:
    """Lower-cased stage names in file order (each once), and the number of stages."""
    names: dict[str, None] = {}
    count = 0
    for ins in instructions:
        if ins.cmd.lower() != "from":
            continue
        count += 1
        words = _WORD_RE.findall(ins.text, ins.args_at, ins.args_end)
        if len(words) == 3 and words[1].lower() == "as" and _STAGE_NAME_RE.match(words[2].lower()):
            names[words[2].lower()] = None
    return tuple(names), count


def _csv_fields(value: str) -> list[tuple[str, list[int]]]:
    """Split a --mount value like encoding/csv: fields, and each character's index in ``value``."""
    fields: list[tuple[str, list[int]]] = []
    i, n = 0, len(value)
    while True:
        chars: list[str] = []
        offsets: list[int] = []
        if i < n and value[i] == '"':
            i += 1
            while i < n:
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        chars.append('"')
                        offsets.append(i)
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(value[i])
                offsets.append(i)
                i += 1
            while i < n and value[i] != ",":
                chars.append(value[i])
                offsets.append(i)
                i += 1
        else:
            while i < n and value[i] != ",":
                chars.append(value[i])
                offsets.append(i)
                i += 1
        fields.append(("".join(chars), offsets))
        if i >= n:
            return fields
        i += 1  # the comma
