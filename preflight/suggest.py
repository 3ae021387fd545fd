"""Near matches for a missing tag or repository: "did you mean ...?".

Pure and network-free: the registry client ranks what a registry lists with it, and rules
(PF105) and the fix policy compare names with it, so it lives outside the registry package.

Candidates are ranked by edit distance (optimal string alignment, so a swapped pair of
characters costs 1), then by the length of the shared prefix, then by how similar the
dotted/dashed components are, then lexically, so the order never depends on the order a
registry listed its tags in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PARTS = re.compile(r"[.\-_/]")


def osa_distance(a: str, b: str, limit: int | None = None) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein without repeated edits)."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _shared_parts(a: str, b: str) -> int:
    pa = [p for p in _PARTS.split(a) if p]
    pb = {p for p in _PARTS.split(b) if p}
    return sum(1 for p in pa if p in pb)


def _max_distance(wanted: str) -> int:
    """How far a candidate may be from what was written: 2 for short names, a third beyond."""
    return max(2, len(wanted) // 3)


def near_matches(wanted: str, candidates: Iterable[str], limit: int = 5) -> tuple[str, ...]:
    """Up to ``limit`` candidates close to ``wanted``, best first.

    A candidate qualifies when its edit distance is small (ignoring case counts as one edit
    less), or when one text starts with the other at a component boundary (``3.12`` vs
    ``3.12-slim``). ``wanted`` itself is never suggested.
    """
    if limit <= 0:
        return ()
    cap = _max_distance(wanted)
    scored: list[tuple[int, int, int, str]] = []
    seen: set[str] = set()
    folded = wanted.lower()
    for cand in candidates:
        if not cand or cand == wanted or cand in seen:
            continue
        seen.add(cand)
        dist = osa_distance(wanted, cand, limit=cap)
        if cand.lower() == folded:
            dist = 1  # only the case differs: almost certainly meant
        boundary = _prefix_at_boundary(wanted, cand) or _prefix_at_boundary(cand, wanted)
        if dist > cap and not boundary:
            continue
        rank = dist if dist <= cap else cap + 1  # prefix-only matches after the close ones
        scored.append((rank, -_common_prefix(folded, cand.lower()), -_shared_parts(wanted, cand), cand))
    scored.sort()
    return tuple(s[-1] for s in scored[:limit])


def _prefix_at_boundary(short: str, long: str) -> bool:
    if len(short) < 2 or len(long) <= len(short) or not long.startswith(short):
        return False
    return long[len(short)] in ".-_/"
