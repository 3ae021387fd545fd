"""The image uses of a Dockerfile: ``# syntax=``, ``FROM`` (and its ``--platform``), ``COPY --from``
and ``RUN --mount=...,from=``. A new kind of use goes here: a method that finds the words, and
``add_use`` with its ``UseKind``."""

from __future__ import annotations

import re

from ..interpolate import ExpansionError, expand
from ..model import ImageUse, Location, Problem, UseKind
from .scanner import WORD_RE, Directive, Instruction
from .state import STAGE_NAME_RE, ReaderState, Stage
from .words import csv_fields

_INDEX_RE = re.compile(r"[+-]?[0-9]{1,18}\Z")


class ImageUses(ReaderState):
    """The instructions that name images; stages are opened by FROM."""

    def syntax_use(self, d: Directive) -> None:
        image = d.value.split(" ", 1)[0]
        loc = Location(self.path, d.line, d.column, d.line, d.column + len(image))
        self.uses.append(ImageUse(kind=UseKind.SYNTAX, location=loc, written=image, resolved=image))

    def from_(self, ins: Instruction) -> None:
        words = [(m.group(0), m.start()) for m in WORD_RE.finditer(ins.text, ins.args_at, ins.args_end)]
        line, col = ins.position(0)
        name: str | None = None
        if not words:
            self.problem("PF001", line, col, "FROM needs an image: FROM <image> [AS <name>]")
        elif len(words) == 3 and words[1][0].lower() == "as":
            name = words[2][0]
            if not STAGE_NAME_RE.match(name.lower()):
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
        self.stages.append(Stage(name))
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
            for field_text, offsets in csv_fields(value):
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
