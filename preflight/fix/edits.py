"""Exact edits of a file: where a written reference is, replacing only its characters, diffs, and
atomic writes that keep everything else (BOM, CRLF, a missing final newline, the file mode)."""

from __future__ import annotations

import codecs
import difflib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..model import Location
from ..textfile import MAX_BYTES, InputError, decode

# Line breaks as each reader counts lines: BuildKit splits on "\n" only; YAML also on "\r", NEL, LS, PS.
_DOCKERFILE_BREAK = re.compile("\n")
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True)
class Source:
    """A file as read for editing: its text (what the readers saw) and what surrounds it on disk."""

    path: Path  # the file itself (symlinks resolved: the link stays a link)
    data: bytes
    text: str
    bom: bool
    line_starts: tuple[int, ...]  # offset in ``text`` of each 1-based line

    def offset(self, line: int, column: int) -> int | None:
        """Offset in ``text`` of (line, column), 1-based, or None when outside the file."""
        if not 1 <= line <= len(self.line_starts) or column < 1:
            return None
        start = self.line_starts[line - 1]
        end = self.line_starts[line] if line < len(self.line_starts) else len(self.text)
        at = start + column - 1
        return at if at <= end else None

    def span(self, loc: Location) -> tuple[int, int] | None:
        """(start, end) offsets of ``loc``, which must have an end."""
        if loc.end_column is None:
            return None
        start = self.offset(loc.line, loc.column)
        end = self.offset(loc.end_line or loc.line, loc.end_column)
        if start is None or end is None or end < start:
            return None
        return start, end

    def location(self, display: str, start: int, end: int) -> Location:
        """The Location (1-based, exclusive end column) of text[start:end]."""
        line, col = self._position(start)
        end_line, end_col = self._position(end)
        return Location(display, line, col, end_line, end_col)

    def _position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.line_starts[lo] + 1


def read_source(path: Path, kind: str) -> Source:
    """Read ``path`` for editing (raises InputError like the readers do)."""
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
        if not stat.S_ISREG(st.st_mode):
            raise InputError("is not a regular file; not edited")
        if st.st_size > MAX_BYTES:
            raise InputError("file too large; not edited")
        data = real.read_bytes()
    except OSError as exc:
        raise InputError(exc.strerror or str(exc)) from None
    text = decode(data)
    bom = data.startswith(codecs.BOM_UTF8)
    breaks = _YAML_BREAK if kind == "compose" else _DOCKERFILE_BREAK
    starts = [0] + [m.end() for m in breaks.finditer(text)]
    return Source(real, data, text, bom, tuple(starts))


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] (which reads ``old``) with ``new``."""

    start: int
    end: int
    old: str
    new: str


def apply(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (each checked against what it replaces)."""
    out: list[str] = []
    at = 0
    for e in sorted(edits, key=lambda e: e.start):
        if e.start < at or text[e.start : e.end] != e.old:
            raise ValueError(f"edit at offset {e.start} does not match the file")
        out.append(text[at : e.start])
        out.append(e.new)
        at = e.end
    out.append(text[at:])
    return "".join(out)


def narrow(old: str, new: str) -> tuple[int, int, str]:
    """The smallest change turning ``old`` into ``new``: (start, end) in ``old`` and the inserted text."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return head, len(old) - tail, new[head : len(new) - tail]


def encoded(source: Source, text: str) -> bytes:
    return (codecs.BOM_UTF8 if source.bom else b"") + text.encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename;
    the file keeps its permission bits (and owner, where allowed)."""
    st = path.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".preflight-fix", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass  # not permitted: the file becomes ours, as with any editor
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unified_diff(display: str, before: str, after: str) -> str:
    """A ``diff -u`` of two texts, with git's marker for a missing final newline."""
    a, b = _lines(before), _lines(after)
    out: list[str] = []
    for line in difflib.unified_diff(a, b, f"a/{display}", f"b/{display}"):
        if line.startswith(("---", "+++")):
            out.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> Sequence[str]:
    """Lines split after each "\n" only (a "\r" or form feed stays inside its line)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)
