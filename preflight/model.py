"""The data every part of preflight shares: locations, image uses, documents, findings, reports.

All types are frozen: parsers build them, rules read them, reporters render them.
Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .facts import Download


class Level(str, enum.Enum):
    """Severity of a finding. ``OFF`` disables a rule."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
    OFF = "off"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "note": 1, "off": 0}[self.value]

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown level {text!r} (expected error, warning, note or off)") from None


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file. ``path`` is relative to the working directory, with ``/`` separators.

    ``line`` and ``column`` are 1-based; the column counts Unicode code points.
    ``end_line``/``end_column`` (exclusive end column) are set where the extent is known.
    """

    path: str
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None


class UseKind(str, enum.Enum):
    FROM = "from"
    COPY_FROM = "copy-from"
    MOUNT_FROM = "mount-from"
    SYNTAX = "syntax"
    COMPOSE = "compose"


@dataclass(frozen=True)
class ValueSource:
    """Where a variable of a written reference got its value (``preflight fix`` edits it there).

    origin: ``unset`` (no value: a default written in the reference applies), ``arg`` (the
    default of a Dockerfile ARG; ``location`` is its text when written literally), ``build-arg``,
    ``platform`` (BuildKit's predefined platform ARGs), ``environment``, ``env-file`` (``.env``).
    """

    name: str
    origin: str
    location: Location | None = None


@dataclass(frozen=True)
class ImageUse:
    """One place where a file names a container image.

    written:     the reference text exactly as in the file (``${BASE}``, ``python:${TAG:-3.12}``).
    resolved:    the text after variable substitution, or None when a variable has no value.
    unresolved:  names of variables that had no value (PF003 reports them).
    var_errors:  messages from ``${V:?message}`` / ``${V?message}`` whose variable was unset.
    platform:    a literal platform the use requires (``FROM --platform=linux/arm64``,
                 compose ``platform:``), None when absent or only given through a variable.
    platform_pinned: the use names its own platform (literal or ``$BUILDPLATFORM``): the
                 platforms asked for with ``--platform`` / config do not apply to it.
    pull:        False when the reference names an image that is built, not pulled
                 (compose ``image:`` beside ``build:``): check its syntax only.
    stage:       for Dockerfiles, the stage name declared with ``AS`` (informational).
    stages:      for Dockerfile ``FROM``/``--from``/``from=`` uses: the stage names the use can
                 refer to (``FROM``: earlier stages; ``--from``: every other stage), lower-cased.
    later_stages: for ``FROM``: stage names defined further down, which it cannot refer to
                 (PF105 tells a mistyped or misplaced stage from an image).
    service:     for compose uses: the service whose ``image:`` this is.
    built_by:    the project builds this image itself (a compose service with ``build:`` and this
                 ``image:``): where, e.g. ``service "base" in compose.yaml:4``; such a use is not
                 pulled (``pull`` is False) and PF106 says so.
    sources:     where each variable in ``written`` got its value, in order of appearance.
    """

    kind: UseKind
    location: Location
    written: str
    resolved: str | None
    unresolved: tuple[str, ...] = ()
    var_errors: tuple[str, ...] = ()
    platform: str | None = None
    pull: bool = True
    stage: str | None = None
    platform_pinned: bool = False
    stages: tuple[str, ...] = ()
    later_stages: tuple[str, ...] = ()
    service: str | None = None
    built_by: str | None = None
    sources: tuple[ValueSource, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A finding produced while reading a file, before rules run (PF001, PF003 from variables...)."""

    rule: str
    location: Location
    message: str


@dataclass(frozen=True)
class Suppression:
    """One ``# preflight: ignore...`` comment: where it is, what it names, which lines it covers."""

    location: Location  # the comment
    rules: frozenset[str]  # rule IDs or ID prefixes as written, upper-case; "*" = every rule
    lines: frozenset[int] | None  # lines covered; None = the whole file (ignore-file)

    def matches(self, rule: str) -> bool:
        return any(p == "*" or rule.startswith(p) for p in self.rules)


@dataclass(frozen=True)
class Suppressions:
    """Inline ``# preflight: ignore=...`` comments of one file.

    by_line maps a 1-based line to the rule IDs or ID prefixes (``PF10``) ignored for findings on
    that line ("*" means all rules). file_wide holds those ignored everywhere in the file.
    entries keeps each comment with its place, so that one naming no rule or suppressing nothing
    can be reported (PF004).
    """

    by_line: Mapping[int, frozenset[str]] = field(default_factory=dict)
    file_wide: frozenset[str] = frozenset()
    entries: tuple[Suppression, ...] = ()

    @classmethod
    def of(cls, entries: tuple[Suppression, ...]) -> Suppressions:
        by_line: dict[int, set[str]] = {}
        file_wide: set[str] = set()
        for entry in entries:
            if entry.lines is None:
                file_wide |= entry.rules
            else:
                for line in entry.lines:
                    by_line.setdefault(line, set()).update(entry.rules)
        return cls({k: frozenset(v) for k, v in by_line.items()}, frozenset(file_wide), tuple(dict.fromkeys(entries)))

    def covers(self, rule: str, line: int) -> bool:
        ids = self.file_wide | self.by_line.get(line, frozenset())
        return any(p == "*" or rule.startswith(p) for p in ids)

    def covering(self, rule: str, line: int) -> list[Suppression]:
        """The comments that suppress ``rule`` on ``line``."""
        return [e for e in self.entries if (e.lines is None or line in e.lines) and e.matches(rule)]


DOCKER_IMAGE_CONTEXT = "docker-image://"  # the kind of named build context that is an image reference


@dataclass(frozen=True)
class BuildLink:
    """A compose service that builds a Dockerfile: the Dockerfile is checked with these build args."""

    dockerfile: str  # absolute path
    args: Mapping[str, str]  # build args with a value (args without a value are left to ARG defaults)
    target: str | None
    location: Location  # the service's build: key, for "Dockerfile not found" problems
    platforms: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()  # names of build.additional_contexts: not images in that Dockerfile
    service: str = ""  # the compose service that builds it


@dataclass(frozen=True)
class Document:
    """What preflight read from one file."""

    path: str  # display path (relative to the working directory, / separators)
    # "dockerfile" | "compose"; "unknown": a file that could not be read or is neither (only problems);
    # "directory": a directory that could not be listed (only problems, not counted as a file)
    kind: str
    uses: tuple[ImageUse, ...] = ()
    problems: tuple[Problem, ...] = ()
    suppressions: Suppressions = Suppressions()
    builds: tuple[BuildLink, ...] = ()  # compose only: Dockerfiles its services build


@dataclass(frozen=True)
class Fix:
    """A text edit that resolves a finding: replace the span at ``location`` with ``replacement``."""

    description: str
    location: Location
    replacement: str


@dataclass(frozen=True)
class Finding:
    """One reported problem. The one type every reporter renders."""

    rule: str  # "PF102"
    level: Level
    message: str
    location: Location
    image: str | None = None  # the reference as written, when the finding is about one
    suggestions: tuple[str, ...] = ()
    fixes: tuple[Fix, ...] = ()

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule, self.message)


@dataclass(frozen=True)
class Summary:
    files: int = 0
    images: int = 0  # image uses found
    references_checked: int = 0  # unique references a registry (or the cache) answered about
    requests: int = 0  # HTTP requests a registry answered (retries, tokens, redirects included)
    cache_hits: int = 0
    dockerhub_remaining: int | None = None  # Docker Hub ratelimit-remaining, when seen
    not_checked: int = 0  # references whose lookup did not finish (deadline)
    offline: bool = True


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    summary: Summary
    root: str = "."  # repository root, absolute; SARIF URIs are relative to it
    downloads: tuple[Download, ...] = ()  # --deep only, by image then platform (``facts.Download``)

    def counts(self) -> dict[str, int]:
        out = {lvl.value: 0 for lvl in (Level.ERROR, Level.WARNING, Level.NOTE)}
        for f in self.findings:
            out[f.level.value] += 1
        return out


MAX_QUOTED = 160  # characters of a reference quoted in a message (a reference can be megabytes)


def clip(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis in the middle."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[len(text) - half :]}"
