"""Which "did you mean" suggestion of PF201 is applied by ``preflight fix`` (pure, no I/O).

A suggestion is applied only when it is unambiguous and only repairs spelling:

* it is the one candidate at the smallest edit distance (two candidates equally close: ambiguous);
* that distance is small: one edit for tags of up to 5 characters, two for longer ones
  (a difference only in letter case counts as one edit);
* it keeps every number of the tag: the runs of digits, in order, are the same (``3.12-slimm`` ->
  ``3.12-slim`` is a typo; ``1.0.2`` -> ``1.0.0``, ``3.11`` -> ``3.12``, ``lts`` -> ``lts-3.18``
  change what is built, so they are listed, never applied).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..imageref import is_tag
from ..suggest import osa_distance

_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class TypoDecision:
    replacement: str | None  # the tag to write, None when nothing is applied
    reason: str  # why not, when replacement is None


def max_distance(tag: str) -> int:
    return 1 if len(tag) <= 5 else 2


def distance(tag: str, candidate: str) -> int:
    if tag.lower() == candidate.lower():
        return 1
    return osa_distance(tag, candidate)


def numbers(text: str) -> tuple[str, ...]:
    return tuple(_NUMBER.findall(text))


def decide(tag: str, suggestions: Sequence[str]) -> TypoDecision:
    """The suggestion to apply for the missing ``tag``, or why none is (only ever a valid tag)."""
    suggestions = [s for s in suggestions if is_tag(s)]
    if not suggestions:
        return TypoDecision(None, "no similar tag exists")
    scored = sorted((distance(tag, s), i, s) for i, s in enumerate(suggestions))
    best_distance, _, best = scored[0]
    ties = [s for d, _, s in scored if d == best_distance]
    if len(ties) > 1:
        listed = ", ".join(f'"{s}"' for s in ties)
        return TypoDecision(None, f"ambiguous: {listed} are equally close")
    if best_distance > max_distance(tag):
        return TypoDecision(None, f'"{best}" is {best_distance} edits away, too far to be a typo')
    if numbers(best) != numbers(tag):
        return TypoDecision(None, f'"{best}" names another version; choose it by hand')
    return TypoDecision(best, "")
