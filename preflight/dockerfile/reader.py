"""Reading a Dockerfile into a Document: the driver over the scanned instructions, ARG scoping,
instructions out of place, suppression comments; ``parse_dockerfile`` and ``looks_like_dockerfile``."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import replace

from ..model import Document, Location, Problem, Suppression, Suppressions
from ..suppress import parse_directive
from .scanner import INSTRUCTIONS, Instruction, scan
from .uses import ImageUses
from .variables import Value
from .words import parse_words


def looks_like_dockerfile(text: str) -> bool:
    """For a file named explicitly whose name says nothing: at least half of its instructions
    (first words of its lines outside comments, heredocs and continuations) are Dockerfile
    instructions. A README that quotes a ``FROM`` line among prose is not a Dockerfile."""
    known = total = 0

    def count(ins: Instruction) -> bool:
        nonlocal known, total
        total += 1
        known += ins.cmd.lower() in INSTRUCTIONS
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
        sc = scan(text, keep=_relevant())
        return _Reader(sc, text, path, dict(build_args or {}), target_platform, dict(named_contexts or {})).run()
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
            or cmd not in INSTRUCTIONS
            or (bool(ins.flags) and cmd in ("copy", "run"))
        )

    return keep


class _Reader(ImageUses):
    """The driver: each kept instruction in order, ARG scoping, the suppression comments."""

    def run(self) -> Document:
        sc = self.scan
        if sc.instructions and not any(ins.cmd.lower() in INSTRUCTIONS for ins in sc.instructions):
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
        if cmd not in INSTRUCTIONS:
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

    def arg(self, ins: Instruction) -> None:
        in_stage = bool(self.stages)
        scope = self.stage_scope()
        for word, at in parse_words(ins.text, ins.args_at, ins.args_end, self.dialect.escape or "\\"):
            key, eq, default = word.partition("=")
            if not key:
                continue
            if key in self.build_args:
                scope[key] = Value(self.build_args[key], origin="build-arg")
            elif eq:
                start = at + len(key) + 1
                loc = self.span(ins, start, max(start, at + len(word) - 1))
                res = self.evaluate(default, scope, loc, f"ARG {key}")
                literal = (
                    bool(default) and ins.text[at : at + len(word)] == word and res is not None and not res.sources
                )
                where = loc if literal and loc.line == loc.end_line else None
                scope[key] = Value(None) if res is None else replace(res, origin="arg", where=where, sources=())
            elif in_stage:
                if key in self.globals:
                    scope[key] = self.globals[key]
                else:
                    scope[key] = Value(None, (key,))
            elif key not in scope:
                scope[key] = Value(None, (key,))
