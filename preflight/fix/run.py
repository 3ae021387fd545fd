"""Running a plan: read the files to edit, apply the edits (or diff them), say what was done."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..confine import Confinement, project_roots
from ..model import Document, clip
from ..safetext import inert_in_actions, visible
from ..textfile import InputError
from .changes import DIGEST, PIN, TYPO, Change, Listed, Plan
from .edits import Source, apply, encoded, read_source, unified_diff, write_atomic

OUTSIDE = "the file is outside the project"


def read_sources(documents: Iterable[Document], cwd: Path, paths: Sequence[str] = ()) -> dict[str, Source | str]:
    """The files that name images, read for editing, or why one cannot be edited. Only files inside
    the project roots of ``paths`` (``preflight.confine``; default ``.``) are edited, in every mode:
    a Dockerfile symlinked to, built from, included or extended from outside the project is listed,
    so a repository cannot make fix write anywhere else."""
    inside = Confinement(project_roots(list(paths), os.fspath(cwd)))
    out: dict[str, Source | str] = {}
    for doc in documents:
        if doc.path in out or not doc.uses or doc.kind not in ("dockerfile", "compose"):
            continue
        path = cwd / doc.path
        if not inside.contains(os.fspath(path)):
            out[doc.path] = OUTSIDE
            continue
        try:
            out[doc.path] = read_source(path, doc.kind)
        except (InputError, OSError):
            continue
    return out


@dataclass
class Outcome:
    diff: str = ""
    files: list[str] = field(default_factory=list)  # paths changed (or that would change)
    errors: list[str] = field(default_factory=list)


def execute(plan: Plan, sources: Mapping[str, Source | str], *, dry_run: bool) -> Outcome:
    out = Outcome()
    for path, changes in sorted(plan.by_path().items()):
        source = sources[path]
        if not isinstance(source, Source):  # plan makes changes only in files that were read
            out.errors.append(f"{path}: {source}; not changed")
            continue
        try:
            after = apply(source.text, {c.edit for c in changes})
        except ValueError as exc:
            out.errors.append(f"{path}: {exc}; not changed")
            continue
        if after == source.text:
            continue
        out.files.append(path)
        if dry_run:
            out.diff += unified_diff(path, source.text, after)
            continue
        try:
            if source.path.read_bytes() != source.data:
                out.errors.append(f"{path} changed while preflight was reading it; not written")
                continue
            write_atomic(source.path, encoded(source, after))
        except OSError as exc:
            out.errors.append(f"cannot write {path}: {exc.strerror or exc}")
    return out


def shown_diff(diff: str, environ: Mapping[str, str]) -> str:
    """``diff`` as printed. It quotes the files' own lines, so each goes through ``visible`` (no escape
    sequence reaches a terminal), and inside GitHub Actions the whole diff sits between
    ``::stop-commands::TOKEN`` and ``::TOKEN::``: the runner trims a context line's leading space,
    so a quoted ``::error ...`` or ``::add-mask::`` line would otherwise be a workflow command."""
    lines = diff.split("\n")
    tail = lines.pop() if lines else ""
    text = "".join(visible(line) + "\n" for line in lines) + visible(tail)
    return inert_in_actions(text, environ)


_DONE = {
    TYPO: ("fixed PF201", "would fix PF201"),
    DIGEST: ("fixed PF206", "would fix PF206"),
    PIN: ("pinned", "would pin"),
}


def change_line(change: Change, dry_run: bool) -> str:
    u = change.use
    verb = _DONE[change.kind][1 if dry_run else 0]
    at = change.location
    where = f" (edited at {at.path}:{at.line}:{at.column})" if (at.path, at.line) != (u.path, u.line) else ""
    return f'{u.path}:{u.line}:{u.column}: {verb}: "{clip(change.before)}" -> "{clip(change.after)}"{where}'


def listed_line(item: Listed) -> str:
    loc = item.location
    return f'{loc.path}:{loc.line}:{loc.column}: not fixed: "{clip(item.image)}": {item.reason}'


def summary_line(plan: Plan, outcome: Outcome, dry_run: bool) -> str:
    n, files = len(plan.changes), len(outcome.files)
    if not outcome.files:
        head = "nothing to fix"
    else:
        head = f"{n} fix{'es' if n != 1 else ''} {'would change' if dry_run else 'changed'} {files} file{'s' if files != 1 else ''}"
    if plan.listed:
        head += f"; {len(plan.listed)} reference{'s' if len(plan.listed) != 1 else ''} listed, not changed"
    return head
