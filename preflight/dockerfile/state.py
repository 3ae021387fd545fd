"""The reader's state while it walks a file: scopes, stages, what it found so far, and the helpers every
instruction uses (locations, expansion with its problems, recording a use)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..imageref import MAX_REFERENCE_LENGTH, ImageRef, ReferenceError
from ..interpolate import MAX_EXPANSION, Budget, Dialect, ExpansionError, ExpansionTooCostly, ExpansionTooLong
from ..model import ImageUse, Location, Problem, UseKind, clip
from .scanner import WORD_RE, Instruction, Scan
from .variables import Value, evaluate_word, platform_values

STAGE_NAME_RE = re.compile(r"[a-z][a-z0-9-_.]*\Z")


@dataclass
class Stage:
    name: str | None  # as written after AS
    scope: dict[str, Value] = field(default_factory=dict)


class ReaderState:
    """What the reader knows at the current instruction; ``uses.ImageUses`` and ``reader._Reader``
    add the instructions."""

    def __init__(
        self,
        sc: Scan,
        text: str,
        path: str,
        build_args: dict[str, str],
        target_platform: str | None,
        named_contexts: dict[str, str | None],
    ) -> None:
        self.scan = sc
        self.path = path
        self.build_args = build_args
        self.named_contexts = named_contexts
        self.dialect = Dialect.buildkit(self.scan.escape)
        self.budget = Budget.for_text(text)  # pattern matching, for the whole file
        self.uses: list[ImageUse] = []
        self.problems: list[Problem] = []
        self.globals: dict[str, Value] = platform_values(target_platform)  # + global ARGs
        self.stages: list[Stage] = []
        self.earlier: set[str] = set()  # lower-cased names of the stages defined so far
        self.stage_order, self.stage_count = stage_names(self.scan.instructions)
        self.all_names = set(self.stage_order)

    def problem(self, rule: str, line: int, column: int, message: str, end: tuple[int, int] | None = None) -> None:
        loc = Location(self.path, line, column, end[0] if end else None, end[1] if end else None)
        self.problems.append(Problem(rule, loc, message))

    def span(self, ins: Instruction, first: int, last: int) -> Location:
        """Location of text[first:last+1] (``last`` inclusive)."""
        line, col = ins.position(first)
        end_line, end_col = ins.position(last)
        return Location(self.path, line, col, end_line, end_col + 1)

    def evaluate(self, word: str, scope: Mapping[str, Value], loc: Location, what: str) -> Value | None:
        arg = what.startswith("ARG ")
        try:
            return evaluate_word(word, scope, self.dialect, MAX_EXPANSION if arg else MAX_REFERENCE_LENGTH, self.budget)
        except (ExpansionTooLong, ExpansionTooCostly) as exc:
            long = isinstance(exc, ExpansionTooLong)
            if arg:  # only an error where it is used in an image reference (a RUN line is never expanded here)
                return Value(None, too_long=long, too_costly=not long)
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
        res: Value,
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

    def named_context(self, res: Value) -> Value | None:
        """The value to check for a name that may be a named build context: unchanged when it is
        none, the context's image when it names one, None when there is nothing to check."""
        if res.text is None or not self.named_contexts:
            return res
        for key in _context_keys(res.text):
            if key in self.named_contexts:
                image = self.named_contexts[key]
                return None if image is None else Value(image)
        return res

    def stage_scope(self) -> dict[str, Value]:
        return self.stages[-1].scope if self.stages else self.globals


def _context_keys(name: str) -> tuple[str, ...]:
    """The names under which BuildKit looks up a named context for ``name``: as written, and its
    normalized familiar form without ``:latest`` (``docker.io/library/alpine:latest`` -> ``alpine``)."""
    try:
        familiar = ImageRef.parse(name).familiar
    except ReferenceError:
        return (name,)
    return (name, familiar.removesuffix(":latest"))


def stage_names(instructions: tuple[Instruction, ...]) -> tuple[tuple[str, ...], int]:
    """Lower-cased stage names in file order (each once), and the number of stages."""
    names: dict[str, None] = {}
    count = 0
    for ins in instructions:
        if ins.cmd.lower() != "from":
            continue
        count += 1
        words = WORD_RE.findall(ins.text, ins.args_at, ins.args_end)
        if len(words) == 3 and words[1].lower() == "as" and STAGE_NAME_RE.match(words[2].lower()):
            names[words[2].lower()] = None
    return tuple(names), count
