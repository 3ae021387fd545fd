"""Resolve: every image use of the documents read, parsed once into the ``Subject`` that the
registry lookups, the rules (``engine.evaluate``) and ``preflight images`` all use.

A subject carries the use, its ``ImageRef`` (or why there is none) and the platforms the image
must provide. Uses of an image that a compose service of the same project builds are marked here
as not pulled (``mark_project_images``), by the already parsed reference. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .imageref import ImageRef, ReferenceError, host_problem
from .model import Document, ImageUse, UseKind
from .platforms import required_platforms

if TYPE_CHECKING:
    from .facts import ImageFacts


@dataclass(frozen=True)
class Subject:
    """One image use as rules see it: the use, its parsed reference, the platforms it must provide
    and (once the registry step ran) its registry facts."""

    use: ImageUse
    ref: ImageRef | None  # None when unresolved or invalid
    ref_error: str | None  # why the resolved text is not a valid reference
    facts: ImageFacts | None = None  # None offline, or when the reference was not looked up
    platforms: tuple[str, ...] = ()  # platforms the image must provide (platforms.required_platforms)


@dataclass(frozen=True)
class Read:
    """What the read stage produced: documents by key (one per file; a Dockerfile read with
    different build args once per reading), which compose files build each Dockerfile document,
    and documents that hold only problems (files that could not be read or are neither kind)."""

    documents: Mapping[str, Document]
    built_by: Mapping[str, frozenset[str]] = field(default_factory=dict)
    problems: tuple[Document, ...] = ()
    root: str = "."  # absolute repository root (git top level, else cwd)


@dataclass(frozen=True)
class Resolved:
    """Every document with one subject per image use, in the same order (``subjects[i][j]`` is
    ``documents[i].uses[j]``)."""

    documents: tuple[Document, ...]
    subjects: tuple[tuple[Subject, ...], ...]
    root: str = "."

    def all_subjects(self) -> Iterator[Subject]:
        for subjects in self.subjects:
            yield from subjects


def subject_for(use: ImageUse, platforms: tuple[str, ...] = ()) -> Subject:
    """Parse ``use``'s resolved reference (the one place a use's text becomes an ``ImageRef``);
    ``platforms``: the ones asked for (``--platform``, config), narrowed to the use's own."""
    ref: ImageRef | None = None
    err: str | None = None
    if use.resolved is not None and not use.var_errors:
        try:
            ref = ImageRef.parse(use.resolved)
        except ReferenceError as exc:
            err = str(exc)
        # Valid per distribution/reference, but no connection can be made to it: never looked up.
        if ref is not None and (err := host_problem(ref.domain)) is not None:
            ref = None
    return Subject(use, ref, err, None, required_platforms(use, platforms))


def resolve(read: Read, platforms: tuple[str, ...] = ()) -> Resolved:
    """The resolve stage: parse every use once, then mark the images the project builds."""
    keys = tuple(read.documents)
    subjects = {key: tuple(subject_for(u, platforms) for u in doc.uses) for key, doc in read.documents.items()}
    marked = mark_project_images(subjects, read.built_by)
    documents = tuple(_with_uses(read.documents[k], marked[k]) for k in keys) + read.problems
    out = tuple(marked[k] for k in keys) + tuple(() for _ in read.problems)
    return Resolved(documents, out, read.root)


def resolve_documents(documents: Iterable[Document], platforms: tuple[str, ...] = (), root: str = ".") -> Resolved:
    """``resolve`` for documents read without a build plan (tests, embedding)."""
    return resolve(Read({str(i): doc for i, doc in enumerate(documents)}, root=root), platforms)


def _with_uses(doc: Document, subjects: Sequence[Subject]) -> Document:
    uses = tuple(s.use for s in subjects)
    return doc if uses == doc.uses else replace(doc, uses=uses)


def mark_project_images(
    subjects: Mapping[str, tuple[Subject, ...]], built_by: Mapping[str, frozenset[str]]
) -> Mapping[str, tuple[Subject, ...]]:
    """Uses of an image that a compose service builds (``build:`` with that ``image:``) are
    produced by the project, not pulled: within that compose file and the Dockerfiles its services
    build, mark them (``pull=False``, ``built_by``) so no registry is asked and PF106 names the
    service. The match is by normalized reference; other projects in the same run are not affected."""
    built: dict[str, dict[str, ImageUse]] = {}  # compose file -> canonical reference -> the building use
    for key, doc_subjects in subjects.items():
        for s in doc_subjects:
            use = s.use
            if use.kind is UseKind.COMPOSE and not use.pull and use.service is not None and s.ref is not None:
                built.setdefault(key, {}).setdefault(s.ref.canonical, use)
    if not built:
        return subjects
    out: dict[str, tuple[Subject, ...]] = {}
    for key, doc_subjects in subjects.items():
        projects = [built[c] for c in sorted({key, *built_by.get(key, ())}) if c in built]
        out[key] = tuple(_mark(s, projects) for s in doc_subjects) if projects else doc_subjects
    return out


def _mark(subject: Subject, projects: Sequence[Mapping[str, ImageUse]]) -> Subject:
    if not subject.use.pull or subject.ref is None:
        return subject
    for project in projects:
        builder = project.get(subject.ref.canonical)
        if builder is not None:
            where = f'service "{builder.service}" in {builder.location.path}:{builder.location.line}'
            return replace(subject, use=replace(subject.use, pull=False, built_by=where))
    return subject
