"""The last stage of the registry step: the ``Resolution`` from the plan's answers (the cache's) and
the network's (``batch.execute``). Imports no HTTP code, so a run the cache answers whole never loads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..facts import ImageFacts
from .plan import Plan

if TYPE_CHECKING:
    from . import Resolution


@dataclass
class Executed:
    """What the network step gave: facts of the planned lookups, and the transport's counts."""

    facts: dict[str, ImageFacts]
    requests: int
    dockerhub_remaining: int | None


def summarize(plan: Plan, executed: Executed) -> Resolution:
    """The ``Resolution``: every reference's facts, counts, and the warnings of the whole step."""
    from . import Resolution

    facts = {**plan.facts, **executed.facts}
    warnings = list(plan.warnings)
    if plan.cache is not None and plan.cache.error:
        warnings.append(f"the registry facts cache was not saved: {plan.cache.error}")
    for item in facts.values():
        warnings.extend(item.notes)
    remaining = [f.ratelimit_remaining for f in facts.values() if f.ratelimit_remaining is not None]
    if executed.dockerhub_remaining is not None:
        remaining.append(executed.dockerhub_remaining)
    return Resolution(
        facts=facts,
        requests=executed.requests,
        cache_hits=plan.cache.hits if plan.cache is not None else 0,
        dockerhub_remaining=min(remaining) if remaining else None,
        warnings=tuple(dict.fromkeys(warnings)),
    )
