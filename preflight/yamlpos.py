"""YAML reading that keeps positions, for compose files.

``load(text)`` turns YAML events (libyaml when available) into a small node tree. Every node knows
its 1-based line and column. An alias is the anchored node itself, so a value reached through
``*name`` or a ``<<`` merge reports where it is written. The tree is built iteratively with limits,
so hostile input ends in an issue, never in a hang, a memory blow-up or a RecursionError:

* nesting deeper than ``MAX_DEPTH`` levels (as written, or once aliases are expanded);
* more than ``MAX_ALIASES`` alias expansions, or more than ``MAX_NODES`` nodes once expanded
  ("billion laughs");
* an alias to an unknown anchor, or to a node that contains it.

Duplicate mapping keys are reported as soft issues (the later value wins). No Python object is
ever constructed from tags: only events are read.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn

import yaml

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 200
MAX_ALIASES = 10_000
MAX_NODES = 1_000_000

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_OPENER = re.compile(r"[\[{]")


class Node:
    """Common part of every node: where it starts (1-based), where it ends when known."""

    __slots__ = ("line", "column", "end_line", "end_column", "tag", "size", "aliases", "depth")

    def __init__(self, line: int, column: int, tag: str | None) -> None:
        self.line = line
        self.column = column
        self.end_line: int | None = None
        self.end_column: int | None = None
        self.tag = tag
        self.size = 1  # nodes once aliases are expanded
        self.aliases = 0  # alias expansions below this node
        self.depth = 0  # nesting below this node once aliases are expanded


class Scalar(Node):
    __slots__ = ("value", "style")

    def __init__(self, line: int, column: int, tag: str | None, value: str, style: str | None) -> None:
        super().__init__(line, column, tag)
        self.value = value
        self.style = style  # None (plain), "'", '"', "|", ">"

    @property
    def is_null(self) -> bool:
        return self.style is None and self.tag is None and self.value in _NULLS


class Seq(Node):
    __slots__ = ("items",)

    def __init__(self, line: int, column: int, tag: str | None) -> None:
        super().__init__(line, column, tag)
        self.items: list[Node] = []


class Map(Node):
    __slots__ = ("pairs",)

    def __init__(self, line: int, column: int, tag: str | None) -> None:
        super().__init__(line, column, tag)
        self.pairs: list[tuple[Node, Node]] = []


@dataclass(frozen=True)
class Issue:
    line: int
    column: int
    message: str
    fatal: bool  # True: the file cannot be used at all (compose would refuse it)


@dataclass
class Loaded:
    documents: list[Node] = field(default_factory=list)  # one root per YAML document
    issues: list[Issue] = field(default_factory=list)
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)  # quoted/block scalars
    lines: list[str] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(i.fatal for i in self.issues)


class _Stop(Exception):
    pass


def split_lines(text: str) -> list[str]:
    """Lines as YAML counts them (``\\r\\n``, ``\\r``, ``\\n``, NEL, LS, PS)."""
    return _LINE_BREAK.split(text)


TAB_PROBLEM = "a tab cannot indent YAML; indent with spaces"


def is_tab_error(lines: list[str], line: int, col: int) -> bool:
    """Whether a YAML error at (line, col) (1-based) is a tab in the line's indentation or where a
    token should start (PyYAML: "found character '\\t' that cannot start any token")."""
    if not 1 <= line <= len(lines):
        return False
    text = lines[line - 1]
    at = text[col - 1 : col]
    return at == "\t" or "\t" in text[: len(text) - len(text.lstrip(" \t"))]


def load(text: str) -> Loaded:
    """Read every YAML document of ``text``. Never raises for bad input: see ``Loaded.issues``.

    The limits are this module's, whatever the YAML library. libyaml (PyYAML's C parser) has a nesting
    limit of its own (1000 levels in libyaml 0.2.6, bundled from PyYAML 6.0.2 on), and its scanner reads
    up to 1024 characters of a line ahead of the events it has given, so on a line of many ``[``/``{`` it
    can stop before the composer has seen ``MAX_DEPTH`` levels. When libyaml stops on a line with more
    than ``MAX_DEPTH`` openers before the stop, that line is read again up to just past its
    ``MAX_DEPTH + 1``-th opener, where libyaml cannot be that deep yet, so the composer's own limit speaks.
    If it still does not (openers inside quotes), PyYAML's pure-Python parser, which has no nesting limit
    of its own, reads the text up to that line's end.
    """
    out, stop = _read(text, _LOADER)
    if stop is None or _LOADER is yaml.SafeLoader:
        return out
    line_start, line_end = _line_span(text, stop[0])
    cut = _after_openers(text, line_start, line_end, MAX_DEPTH + 1)
    if cut is None or cut > line_start + stop[1]:  # not stopped on a line of many openers: its finding stands
        return out
    for prefix, loader in ((text[:cut], _LOADER), (text[:line_end], yaml.SafeLoader)):
        again, again_stop = _read(prefix, loader)
        if again_stop is None and again.fatal:  # the composer's own limit
            again.lines = out.lines
            return again
    return out


def _line_span(text: str, line: int) -> tuple[int, int]:
    """Start and end index of 0-based ``line`` as YAML counts lines."""
    start = 0
    for number, brk in enumerate(_LINE_BREAK.finditer(text)):
        if number == line:
            return start, brk.start()
        start = brk.end()
    return start, len(text)


def _after_openers(text: str, start: int, end: int, count: int) -> int | None:
    """The index just past the ``count``-th ``[`` or ``{`` in ``text[start:end]``, if there are that many."""
    found = next(itertools.islice(_OPENER.finditer(text, start, end), count - 1, None), None)
    return found.end() if found else None


def _read(text: str, loader: type) -> tuple[Loaded, tuple[int, int] | None]:
    """``text`` read with ``loader``; and where (0-based line, column) the YAML library itself stopped, if it did."""
    out = Loaded(lines=split_lines(text))
    library_stop: tuple[int, int] | None = None
    try:
        _Composer(out).run(yaml.parse(text, Loader=loader))
    except _Stop:
        pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        library_stop = (mark.line, mark.column) if mark is not None else (0, 0)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if line > len(out.lines):  # libyaml's end of stream is a line past a file without a final newline
            line, col = len(out.lines), len(out.lines[-1]) + 1
        if is_tab_error(out.lines, line, col):
            problem = TAB_PROBLEM
        out.issues.append(Issue(line, col, f"invalid YAML: {problem}", True))
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        pos = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        reason = getattr(exc, "reason", None) or str(exc)
        char = getattr(exc, "character", None)
        what = f" (character #x{char:04x})" if isinstance(char, int) else ""
        out.issues.append(Issue(line, col, f"invalid YAML: {reason}{what}", True))
    if out.fatal:
        out.documents = []
    return out, library_stop


class _Frame:
    __slots__ = ("node", "anchor", "key", "seen")

    def __init__(self, node: Seq | Map, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.key: Node | None = None  # a mapping key waiting for its value
        self.seen: dict[str, int] = {}  # mapping keys -> line, for duplicates


def _start(ev: yaml.Event) -> tuple[int, int]:
    """0-based line and column where an event starts (the parser gives every event its marks)."""
    mark = ev.start_mark
    return (mark.line, mark.column) if mark is not None else (0, 0)


def _end(ev: yaml.Event) -> tuple[int, int]:
    mark = ev.end_mark
    return (mark.line, mark.column) if mark is not None else _start(ev)


class _Composer:
    def __init__(self, out: Loaded) -> None:
        self.out = out
        self.stack: list[_Frame] = []
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()

    def fail(self, ev: yaml.Event, message: str) -> NoReturn:
        line, col = _start(ev)
        self.out.issues.append(Issue(line + 1, col + 1, message, True))
        raise _Stop

    def run(self, events: Iterator[yaml.Event]) -> None:
        for ev in events:
            if isinstance(ev, yaml.ScalarEvent):
                self.add(self.scalar(ev), ev, via_alias=False)
            elif isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self.start(ev)
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self.end(ev)
            elif isinstance(ev, yaml.AliasEvent):
                target = self.anchors.get(ev.anchor or "")
                if target is None:
                    if ev.anchor in self.open_anchors:
                        self.fail(ev, f"alias *{ev.anchor} refers to a node that contains it")
                    self.fail(ev, f"alias *{ev.anchor} refers to an undefined anchor")
                self.add(target, ev, via_alias=True)
            elif isinstance(ev, yaml.DocumentStartEvent):
                self.anchors = {}

    def scalar(self, ev: yaml.ScalarEvent) -> Scalar:
        end_line, end_col = _end(ev)
        line, col = _start(ev)
        if ev.anchor is not None or ev.tag is not None:  # the mark is at "&name" / "!tag"
            line, col = self._skip_properties(line, col)
        style = ev.style or None
        node = Scalar(line + 1, col + 1, ev.tag, ev.value, style)
        if style is None:
            if line == end_line and self._raw(line, col, end_col) == ev.value:
                node.end_line, node.end_column = line + 1, end_col + 1
        elif style in ("'", '"'):
            node.column += 1  # point at the text, not at the quote
            if line == end_line and self._raw(line, col + 1, end_col - 1) == ev.value:
                node.end_line, node.end_column = line + 1, end_col
            self.out.spans.append((line + 1, col + 1, end_line + 1, end_col + 1))
        else:  # block scalar: its text starts on the next line; the header line may carry a comment
            self.out.spans.append((line + 2, 1, end_line + 1, end_col + 1))
        if ev.anchor is not None:
            self.anchors[ev.anchor] = node
        return node

    def _skip_properties(self, line: int, col: int) -> tuple[int, int]:
        """From an anchor or tag (0-based position) to the start of the node's own text; the
        anchor or tag itself when no text follows (an empty scalar at the end of the file)."""
        lines = self.out.lines
        start = line, col
        while line < len(lines):
            text = lines[line]
            if col < len(text) and text[col] in "&!":
                while col < len(text) and not text[col].isspace():
                    col += 1
            while col < len(text) and text[col] in " \t":
                col += 1
            if col < len(text) and text[col] not in "&!#":
                return line, col
            if col < len(text) and text[col] in "&!":
                continue
            line, col = line + 1, 0  # end of line or a comment: the text is on a later line
        return start

    def _raw(self, line: int, start: int, end: int) -> str | None:
        lines = self.out.lines
        return lines[line][start:end] if line < len(lines) else None

    def start(self, ev: yaml.CollectionStartEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self.fail(ev, f"YAML nested deeper than {MAX_DEPTH} levels")
        line, col = _start(ev)
        cls = Map if isinstance(ev, yaml.MappingStartEvent) else Seq
        node = cls(line + 1, col + 1, ev.tag)
        node.depth = 1
        if ev.anchor is not None:
            self.open_anchors.add(ev.anchor)
        self.stack.append(_Frame(node, ev.anchor))

    def end(self, ev: yaml.CollectionEndEvent) -> None:
        frame = self.stack.pop()
        node, anchor = frame.node, frame.anchor
        if node.depth > MAX_DEPTH:
            self.fail(ev, f"YAML nested deeper than {MAX_DEPTH} levels once aliases are expanded")
        if anchor is not None:
            self.open_anchors.discard(anchor)
            self.anchors[anchor] = node
        self.add(node, ev, via_alias=False)

    def add(self, node: Node, ev: yaml.Event, via_alias: bool) -> None:
        if not self.stack:
            self.out.documents.append(node)
            return
        frame = self.stack[-1]
        parent = frame.node
        parent.size += node.size
        parent.aliases += node.aliases + (1 if via_alias else 0)
        if node.depth + 1 > parent.depth:
            parent.depth = node.depth + 1
        if parent.aliases > MAX_ALIASES or parent.size > MAX_NODES:
            self.fail(
                ev,
                f"too many alias expansions (more than {MAX_ALIASES} aliases or {MAX_NODES} nodes once expanded)",
            )
        if isinstance(parent, Seq):
            parent.items.append(node)
        elif frame.key is None:
            frame.key = node
            if isinstance(node, Scalar) and not via_alias and node.value != "<<":
                first = frame.seen.get(node.value)
                if first is not None:
                    self.out.issues.append(
                        Issue(
                            node.line,
                            node.column,
                            f'duplicate key "{node.value}" (first defined on line {first})',
                            False,
                        )
                    )
                else:
                    frame.seen[node.value] = node.line
        else:
            assert isinstance(parent, Map)
            parent.pairs.append((frame.key, node))
            frame.key = None


def comments(lines: list[str], spans: list[tuple[int, int, int, int]], needle: str) -> Iterator[tuple[int, str, bool]]:
    """Comments on lines containing ``needle`` (case-insensitive): (line, text from '#', whole_line).

    A ``#`` starts a comment at the start of a line or after a space or tab, outside quoted and
    block scalars (``spans`` from ``load``).
    """
    low = needle.lower()
    for idx, text in enumerate(lines):
        if low not in text.lower():
            continue
        lineno = idx + 1
        covered = _covered(spans, lineno, len(text))
        pos = text.find("#")
        while pos != -1:
            if (pos == 0 or text[pos - 1] in " \t") and not any(a <= pos + 1 < b for a, b in covered):
                yield lineno, text[pos:], text[:pos].strip() == ""
                break
            pos = text.find("#", pos + 1)


def _covered(spans: list[tuple[int, int, int, int]], line: int, width: int) -> list[tuple[int, int]]:
    """Column ranges [a, b) of ``line`` inside a scalar span."""
    out: list[tuple[int, int]] = []
    for sl, sc, el, ec in spans:
        if sl <= line <= el:
            a = sc if line == sl else 1
            b = ec if line == el else width + 2
            out.append((a, b))
    return out
