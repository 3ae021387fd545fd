"""``preflight doctor``'s results: a ``Section`` (an endpoint, the engine) of timed ``Step``s, each passed or
failed with its cause and the next thing to try; ``Timer`` times one step and records it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str
    cause: str = ""  # on failure: DNS, firewall/refused, proxy, TLS, registry outage, rate limit, authentication, ...
    next: str = ""  # what to try


@dataclass
class Section:
    title: str  # "registry 127.0.0.1:5000 (for 127.0.0.1:5000/app:1.0)", "engine"
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


class Stop(Exception):
    """A step failed: the endpoint's later steps depend on it."""


class Timer:
    def __init__(self, section: Section, name: str) -> None:
        self.section, self.name, self.started = section, name, time.monotonic()

    def ok(self, detail: str) -> None:
        self.section.steps.append(Step(self.name, True, time.monotonic() - self.started, detail))

    def fail(self, detail: str, cause: str, next_step: str) -> Stop:
        self.section.steps.append(Step(self.name, False, time.monotonic() - self.started, detail, cause, next_step))
        return Stop()
