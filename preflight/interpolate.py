"""Variable expansion shared by the Dockerfile reader (BuildKit's word lexer) and compose.

Supported forms: ``$V``, ``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:+a}``, ``${V+a}``, ``${V:?e}``,
``${V?e}``, and in BuildKit also ``${V#p}``, ``${V##p}``, ``${V%p}``, ``${V%%p}``, ``${V/p/r}``,
``${V//p/r}`` (shell glob patterns); defaults and alternatives may themselves contain variables (nested). A variable that
is unset and has no default makes the whole result unknown (``text is None``): preflight never
guesses. ``lookup(name)`` returns None for an unset variable and a string (maybe empty) otherwise.

Dialects:
* BuildKit (``Dialect.buildkit(escape)``): the escape character (``\\`` or the ``# escape=`` one)
  escapes the next character, single quotes are literal, double quotes group, quotes are removed.
* Compose (``Dialect.COMPOSE``): ``$$`` is a literal ``$``; quotes are ordinary characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from . import shellpattern
from .shellpattern import Atoms, PatternError

Lookup = Callable[[str], "str | None"]
_Call = Generator[Any, Any, Any]  # yields a sub-call (another _Call), receives its result

MAX_DEPTH = 10_000  # nested ${...} and quotes; evaluated without Python recursion
# The longest text one expansion may produce. Doubling chains (``A1=${A0}${A0}`` ... ``A63``) and
# ``${V//p/${V}}`` grow exponentially; every step is checked against the bound before the text is
# built, so memory stays at a few times the bound. Callers expanding an image reference pass
# ``imageref.MAX_REFERENCE_LENGTH`` instead.
MAX_EXPANSION = 64 * 1024
# Shell patterns (``${V#p}`` ... ``${V//p/r}``) are matched by simulating the pattern's automaton:
# each character of the value costs one step per live state, so a value of n characters and a
# pattern of m atoms cost up to n x m steps (``*a*a*a...`` on ``aaaa...``: 8,000 of each took 65 s).
# One expansion may spend MATCH_STEPS; a reader spends one ``Budget`` on a whole file, sized
# by the file (``Budget.for_text``), so no file costs more than a constant factor of its length.
MATCH_STEPS = 1 << 18
MATCH_STEPS_PER_CHAR = 16
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


@dataclass(frozen=True)
class Dialect:
    escape: str | None  # BuildKit escape character, None for compose
    dollar_dollar: bool  # "$$" means a literal "$" (compose)
    quotes: bool  # shell-like quote removal (BuildKit)

    @staticmethod
    def buildkit(escape: str = "\\") -> Dialect:
        return Dialect(escape=escape, dollar_dollar=False, quotes=True)


Dialect.COMPOSE = Dialect(escape=None, dollar_dollar=True, quotes=False)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Expansion:
    text: str | None  # None when some variable had no value and no default
    unresolved: tuple[str, ...] = ()  # variables without a value, in order of appearance
    errors: tuple[str, ...] = ()  # messages of ${V:?msg} / ${V?msg} whose variable was unset/empty
    used: tuple[str, ...] = ()  # every variable name referenced

    @property
    def ok(self) -> bool:
        return self.text is not None and not self.errors


class ExpansionError(ValueError):
    """Malformed variable syntax (unterminated ``${``, bad modifier, nesting too deep)."""


class ExpansionTooLong(ExpansionError):
    """The expansion would be longer than its bound; ``limit`` is that bound."""

    def __init__(self, limit: int, name: str | None = None) -> None:
        what = f"${name} is longer than {limit} characters once expanded" if name else None
        super().__init__(what or f"the expansion is longer than {limit} characters")
        self.limit = limit
        self.name = name


class ExpansionTooCostly(ExpansionError):
    """Matching the expansion's shell patterns would take more steps than its ``Budget`` has left."""

    def __init__(self, name: str | None = None) -> None:
        what = f"${name} uses" if name else "it uses"
        super().__init__(f"{what} shell patterns too costly to match (more than preflight's budget); not evaluated")
        self.name = name


class Budget:
    """Pattern-matching steps left to spend; ``ExpansionTooCostly`` once they run out."""

    def __init__(self, steps: int = MATCH_STEPS) -> None:
        self.left = steps

    @classmethod
    def for_text(cls, text: str) -> Budget:
        """The budget of a reader of ``text``: a constant plus a few steps per character."""
        return cls(MATCH_STEPS + MATCH_STEPS_PER_CHAR * len(text))

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise ExpansionTooCostly()


def expand(
    text: str, lookup: Lookup, dialect: Dialect, limit: int = MAX_EXPANSION, budget: Budget | None = None
) -> Expansion:
    """Expand ``text``. Raises ``ExpansionError`` for malformed syntax, ``ExpansionTooLong`` when
    the result (or any part of it) would be longer than ``limit`` characters, ``ExpansionTooCostly``
    when its patterns need more matching steps than ``budget`` (default: ``MATCH_STEPS``) has left."""
    state = _State(lookup, dialect, limit, budget or Budget())
    out, known = _run(state.word(text, 0, len(text), depth=0, in_double=False))
    return Expansion(
        text=out if known else None,
        unresolved=tuple(dict.fromkeys(state.unresolved)),
        errors=tuple(state.errors),
        used=tuple(dict.fromkeys(state.used)),
    )


def _run(call: _Call) -> Any:
    """Drive nested calls with an explicit stack: deep nesting needs no Python recursion."""
    stack = [call]
    value: Any = None
    while True:
        try:
            sub = stack[-1].send(value)
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value
            value = done.value
            continue
        stack.append(sub)
        value = None


class _State:
    """The expander. ``word``, ``dollar``, ``braced`` and ``pattern_op`` are generators run by
    ``_run``: ``yield self.word(...)`` calls ``word`` and evaluates to its result."""

    def __init__(self, lookup: Lookup, dialect: Dialect, limit: int, budget: Budget) -> None:
        self.lookup = lookup
        self.dialect = dialect
        self.limit = limit
        self.budget = budget
        self.unresolved: list[str] = []
        self.errors: list[str] = []
        self.used: list[str] = []
        self.closes: dict[int, int] = {}  # start of a ${ body -> index of its closing }

    def word(self, s: str, i: int, end: int, depth: int, in_double: bool) -> _Call:
        """Expand s[i:end]; returns (text, known)."""
        if depth > MAX_DEPTH:
            raise ExpansionError(f"variables nested deeper than {MAX_DEPTH} levels")
        d = self.dialect
        parts: list[str] = []
        size = 0  # characters in parts: checked on every addition, before anything is joined

        def add(text: str) -> None:
            nonlocal size
            size += len(text)
            if size > self.limit:
                raise ExpansionTooLong(self.limit)
            parts.append(text)

        known = True
        while i < end:
            ch = s[i]
            if d.escape is not None and ch == d.escape:
                if i + 1 < end:
                    nxt = s[i + 1]
                    # inside double quotes the escape only escapes $, ", the escape char and newline
                    if in_double and nxt not in ("$", '"', d.escape, "\n"):
                        add(ch)
                        i += 1
                        continue
                    add(nxt)
                    i += 2
                else:
                    add(ch)
                    i += 1
                continue
            if d.quotes and ch == "'" and not in_double:
                close = s.find("'", i + 1, end)
                if close == -1:
                    raise ExpansionError("unterminated single quote")
                add(s[i + 1 : close])
                i = close + 1
                continue
            if d.quotes and ch == '"':
                close = self._find_double_close(s, i + 1, end)
                inner, k = yield self.word(s, i + 1, close, depth + 1, in_double=True)
                add(inner)
                known = known and k
                i = close + 1
                continue
            if ch == "$":
                text, k, i = yield self.dollar(s, i, end, depth)
                add(text)
                known = known and k
                continue
            add(ch)
            i += 1
        return "".join(parts), known

    def _find_double_close(self, s: str, i: int, end: int) -> int:
        esc = self.dialect.escape
        while i < end:
            if esc is not None and s[i] == esc:
                i += 2
                continue
            if s[i] == "$" and i + 1 < end and s[i + 1] == "{":
                i = self._find_brace_close(s, i + 2, end) + 1
                continue
            if s[i] == '"':
                return i
            i += 1
        raise ExpansionError("unterminated double quote")

    def _find_brace_close(self, s: str, i: int, end: int) -> int:
        """Index of the ``}`` closing a ``${`` whose body starts at i (nesting aware).

        The closes of the nested ``${`` met on the way are remembered, so nested variables are
        matched in one pass instead of one pass per level.
        """
        hit = self.closes.get(i)
        if hit is not None and hit < end:
            return hit
        opened = [i]  # body starts of the open ${, innermost last
        esc = self.dialect.escape
        while i < end:
            ch = s[i]
            if esc is not None and ch == esc:
                i += 2
                continue
            if ch == "$" and i + 1 < end and s[i + 1] == "{":
                opened.append(i + 2)
                i += 2
                continue
            if ch == "}":
                self.closes[opened.pop()] = i
                if not opened:
                    return i
            i += 1
        raise ExpansionError("unterminated '${'")

    def dollar(self, s: str, i: int, end: int, depth: int) -> _Call:
        """Expand the variable starting at s[i] == '$'. Returns (text, known, next index)."""
        if i + 1 >= end:
            return "$", True, i + 1
        nxt = s[i + 1]
        if nxt == "$" and self.dialect.dollar_dollar:
            return "$", True, i + 2
        if nxt == "{":
            close = self._find_brace_close(s, i + 2, end)
            text, known = yield self.braced(s, i + 2, close, depth)
            return text, known, close + 1
        m = _NAME_RE.match(s, i + 1, end)
        if m is None:
            return "$", True, i + 1
        name = m.group(0)
        text, known = self.value(name)
        return text, known, m.end()

    def value(self, name: str) -> tuple[str, bool]:
        self.used.append(name)
        val = self.lookup(name)
        if val is None:
            self.unresolved.append(name)
            return "", False
        return val, True

    def braced(self, s: str, i: int, close: int, depth: int) -> _Call:
        m = _NAME_RE.match(s, i, close)
        if m is None:
            raise ExpansionError(f"invalid variable name in '${{{s[i:close]}}}'")
        name = m.group(0)
        j = m.end()
        if j == close:
            return self.value(name)
        if s[j] in "#%/" and self.dialect.escape is not None:
            return (yield self.pattern_op(name, s, j, close, depth))
        colon = s[j] == ":"
        op_at = j + 1 if colon else j
        if op_at >= close or s[op_at] not in "-+?":
            raise ExpansionError(f"unsupported modifier in '${{{s[i:close]}}}'")
        op = s[op_at]
        arg_start = op_at + 1
        self.used.append(name)
        val = self.lookup(name)
        missing = val is None or (colon and val == "")
        if op == "-":
            if missing:
                return (yield self.word(s, arg_start, close, depth + 1, in_double=False))
            return val or "", True
        if op == "+":
            if missing:
                return "", True
            return (yield self.word(s, arg_start, close, depth + 1, in_double=False))
        # op == "?"
        if missing:
            message, _ = yield self.word(s, arg_start, close, depth + 1, in_double=False)
            detail = message or ("not set" if val is None else "empty")
            self.errors.append(f"{name}: {detail}")
            return "", False
        return val or "", True

    def pattern_op(self, name: str, s: str, j: int, close: int, depth: int) -> _Call:
        """BuildKit's ``${V#p}``, ``${V##p}``, ``${V%p}``, ``${V%%p}``, ``${V/p/r}``, ``${V//p/r}``."""
        op = s[j]
        doubled = j + 1 < close and s[j + 1] == op
        start = j + 2 if doubled else j + 1
        value, known = self.value(name)
        if op == "/":
            cut = self._find_unescaped(s, "/", start, close)
            pattern, k1 = yield self.word(s, start, cut, depth + 1, in_double=False)
            replacement, k2 = (
                (yield self.word(s, cut + 1, close, depth + 1, in_double=False)) if cut < close else ("", True)
            )
            if not (known and k1 and k2):
                return "", False
            return (
                _replace(_compile(pattern), value, replacement, doubled, self.limit, self.budget) if pattern else value
            ), True
        pattern, k = yield self.word(s, start, close, depth + 1, in_double=False)
        if not (known and k):
            return "", False
        atoms = _compile(pattern)
        if op == "#":
            ends = shellpattern.ends(atoms, value, 0, self.budget)
            return (value[max(ends) :] if doubled else value[min(ends) :]) if ends else value, True
        ends = shellpattern.ends(
            atoms[::-1], value[::-1], 0, self.budget
        )  # a suffix: the reversed pattern on the reversed value
        return (value[: len(value) - (max(ends) if doubled else min(ends))] if ends else value), True

    def _find_unescaped(self, s: str, ch: str, i: int, end: int) -> int:
        esc = self.dialect.escape
        while i < end:
            if esc is not None and s[i] == esc:
                i += 2
                continue
            if s[i] == ch:
                return i
            i += 1
        return end


def _compile(pattern: str) -> Atoms:
    try:
        return shellpattern.glob(pattern)
    except PatternError as exc:
        raise ExpansionError(str(exc)) from None


def _replace(
    atoms: Atoms,
    value: str,
    replacement: str,
    every: bool,
    limit: int = MAX_EXPANSION,
    budget: Budget | None = None,
) -> str:
    """``${V/p/r}`` (first match) and ``${V//p/r}`` (all, as Go's ReplaceAllString: an empty
    match right after a match is not replaced). ExpansionTooLong past ``limit`` characters."""
    budget = budget or Budget()
    out: list[str] = []
    size = last = search = 0
    while search <= len(value):
        budget.spend(1)
        found = shellpattern.search(atoms, value, search, budget)
        if found is None:
            break
        start, end = found
        out.append(value[last:start])
        size += start - last
        if end > last or start == 0:
            out.append(replacement)
            size += len(replacement)
        if size > limit:
            raise ExpansionTooLong(limit)
        last = end
        if not every:
            break
        search = search + 1 if end <= search else end
    out.append(value[last:])
    return "".join(out)
