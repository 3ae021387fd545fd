"""Shell glob patterns (``*``, ``?``, ``[...]``, ``\\x``) for BuildKit's ``${V#p}``, ``${V%p}`` and
``${V/p/r}``, matched by simulating the pattern's automaton: no backtracking, and every step is paid
for from a budget (``interpolate.Budget``), so no pattern costs more than its caller allows."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Protocol

Atoms = list[Callable[[str], bool] | None]


class PatternError(ValueError):
    """A pattern that cannot be compiled (a bad character class)."""


class Meter(Protocol):
    """Pays for matching steps; raises when they run out."""

    def spend(self, steps: int) -> None: ...


# A shell glob as atoms: None for "*", else a test of one character ("?", "[...]", a literal).
# Matching simulates the pattern's automaton over the value (no backtracking: time is
# len(value) x len(pattern), where a regular expression took exponential time on "*a*a*a*b").


def _any(_ch: str) -> bool:
    return True


def _in_class(one: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda c: one.match(c) is not None


def glob(pattern: str) -> Atoms:
    """``*``, ``?``, ``[...]`` (``[!...]`` negated) and ``\\x`` as atoms; ``PatternError`` if invalid."""
    atoms: Atoms = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if not atoms or atoms[-1] is not None:  # "**" is one star
                atoms.append(None)
        elif ch == "?":
            atoms.append(_any)
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            atoms.append(pattern[i].__eq__)
        elif ch == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" and the like
                    one = re.compile("[" + body.replace("\\", "\\\\") + "]", re.DOTALL)
            except re.error as exc:
                raise PatternError(f"invalid pattern {pattern!r}: {exc}") from None
            atoms.append(_in_class(one))
            i = end
        else:
            atoms.append(ch.__eq__)
        i += 1
    return atoms


def _add(atoms: Atoms, k: int, start: int, into: dict[int, int]) -> None:
    """Enter state ``k`` (and the states after stars that may match nothing), keeping the earliest start."""
    while True:
        old = into.get(k)
        if old is not None and old <= start:
            return
        into[k] = start
        if k < len(atoms) and atoms[k] is None:
            k += 1
            continue
        return


def _step(atoms: Atoms, states: dict[int, int], ch: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for k, start in states.items():
        if k < len(atoms):
            atom = atoms[k]
            if atom is None:
                _add(atoms, k, start, out)
            elif atom(ch):
                _add(atoms, k + 1, start, out)
    return out


def ends(atoms: Atoms, text: str, start: int, budget: Meter) -> list[int]:
    """Every i such that the pattern matches ``text[start:i]`` exactly."""
    states: dict[int, int] = {}
    _add(atoms, 0, start, states)
    out: list[int] = []
    i = start
    while states:
        if len(atoms) in states:
            out.append(i)
        if i == len(text):
            break
        budget.spend(len(states))
        states = _step(atoms, states, text[i])
        i += 1
    return out


def search(atoms: Atoms, text: str, pos: int, budget: Meter) -> tuple[int, int] | None:
    """The leftmost match at or after ``pos`` and, from that start, its furthest end: what Go's
    leftmost-first regexp finds with greedy stars (BuildKit's ``${V/p/r}``)."""
    states: dict[int, int] = {}
    best: tuple[int, int] | None = None
    i = pos
    while True:
        if best is None:
            _add(atoms, 0, i, states)  # a new attempt starts here
        hit = states.get(len(atoms))
        if hit is not None and (best is None or hit <= best[0]):
            best = (hit, i)
        if best is not None:
            states = {k: st for k, st in states.items() if st <= best[0]}
        if i == len(text) or (best is not None and not states):
            return best
        budget.spend(len(states))
        states = _step(atoms, states, text[i])
        i += 1
