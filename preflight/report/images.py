"""The output of ``preflight images``: one row per image use (``ImageRow``), or a list of references.

Only that command imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..facts import Download
    from ..resolve import Subject


@dataclass(frozen=True)
class ImageRow:
    """One line of ``preflight images``: an image use and the reference it resolves to."""

    path: str
    line: int
    column: int
    kind: str
    written: str
    resolved: str | None
    reference: str | None  # ImageRef.canonical; None when unresolved or invalid


def image_rows(subjects: Iterable[Subject]) -> list[ImageRow]:
    """The rows of ``preflight images``, by location. A Dockerfile that several services build
    with the same result is one row, not one per build."""
    ordered = sorted(subjects, key=lambda s: (s.use.location.path, s.use.location.line, s.use.location.column))
    rows = (
        ImageRow(
            s.use.location.path,
            s.use.location.line,
            s.use.location.column,
            s.use.kind.value,
            s.use.written,
            s.use.resolved,
            s.ref.canonical if s.ref is not None else None,
        )
        for s in ordered
    )
    return list(dict.fromkeys(rows))


def render_images(rows: Sequence[ImageRow], fmt: str, downloads: Sequence[Download] | None = None) -> str:
    """``preflight images`` as a table (``text``) or ``{"images": [...]}`` (``json``; with ``--deep``
    also ``"downloads"``)."""
    from . import json, text

    return json.images(rows, downloads) if fmt == "json" else text.images(rows)


def render_references(refs: Sequence[str], fmt: str, key: str) -> str:
    """A list of normalized references: one per line (``text``), or ``{key: [...]}`` (``json``)."""
    from . import json, text

    return json.references(refs, key) if fmt == "json" else text.references(refs)
