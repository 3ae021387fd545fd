"""What the compose reader keeps per file: the file as read (``File``), one definition of a service
in the file that writes it (``Layer``), and what the file contributes to the report (``Doc``: uses,
problems, build links, suppression comments)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from .. import yamlpos
from ..model import BuildLink, Document, ImageUse, Location, Problem, Suppression, Suppressions
from ..suppress import parse_directive
from ..yamlpos import Map, Node
from .nodes import Items


class File:
    """One compose file as read: its YAML, where its relative paths start."""

    def __init__(self, path: str, display: str) -> None:
        self.path = path
        self.dir = os.path.dirname(path)
        self.workdir = self.dir  # the project directory when read as (part of) a project
        self.display = display
        self.loaded: yamlpos.Loaded | None = None
        self.roots: list[Map] = []
        self.ok = False
        self.cache: dict[int, Items] = {}
        self.services: dict[str, list[tuple[Node, Node]]] | None = None


@dataclass(frozen=True)
class Layer:
    """One definition of a service (its own, or a base it extends), in the file that writes it."""

    file: File
    items: Items


class Doc:
    """What one file contributes: uses (deduplicated by place), problems, build links."""

    def __init__(self, file: File) -> None:
        self.file = file
        self.uses: dict[tuple, ImageUse] = {}
        self.problems: dict[tuple, Problem] = {}
        self.builds: dict[tuple, BuildLink] = {}
        self.key_lines: set[tuple[int, int]] = set()  # (image: key line, value line)

    def add_use(self, use: ImageUse, key_line: int) -> None:
        key = (use.location, use.resolved, use.platform, use.var_errors)
        old = self.uses.get(key)
        if old is None:
            self.uses[key] = use
        elif use.pull and not old.pull:  # pulled by one service: it must exist
            self.uses[key] = replace(old, pull=True)
        self.key_lines.add((key_line, use.location.line))

    def document(self) -> Document:
        return Document(
            path=self.file.display,
            kind="compose",
            uses=tuple(self.uses.values()),
            problems=tuple(self.problems.values()),
            suppressions=self._suppressions(),
            builds=tuple(self.builds.values()),
        )

    def _suppressions(self) -> Suppressions:
        loaded = self.file.loaded
        if loaded is None:
            return Suppressions()
        lines = loaded.lines
        values: dict[int, set[int]] = {}  # image: key line -> value lines (a value on the next line)
        for key_line, value_line in self.key_lines:
            if key_line != value_line:
                values.setdefault(key_line, set()).add(value_line)
        entries: list[Suppression] = []
        for line, comment, whole in yamlpos.comments(lines, loaded.spans, "preflight"):
            directive = parse_directive(comment)
            if directive is None:
                continue
            column = lines[line - 1].rfind(comment) + 1 if 0 < line <= len(lines) else 1
            where = Location(self.file.display, line, max(column, 1))
            if directive.file_wide:
                entries.append(Suppression(where, directive.rules, None))
                continue
            target = _next_content_line(lines, line) if whole else line
            covered = frozenset({target, *values.get(target, ())})
            entries.append(Suppression(where, directive.rules, covered))
        return Suppressions.of(tuple(entries))


def _next_content_line(lines: list[str], line: int) -> int:
    """The first line after ``line`` (1-based) that is neither blank nor only a comment."""
    for idx in range(line, len(lines)):
        stripped = lines[idx].strip()
        if stripped and not stripped.startswith("#"):
            return idx + 1
    return line + 1
