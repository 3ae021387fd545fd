"""What ``preflight fix`` plans: a ``Change`` (one edit of one file and what it does), a ``Listed`` reference
(fixable, not fixed, and why), the ``Plan`` of both, and the ``Want`` for one reference it is made from."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Location
from .edits import Edit

PIN = "pin"
TYPO = "PF201"
DIGEST = "PF206"


@dataclass(frozen=True)
class Change:
    """One edit of one file, and what it does."""

    kind: str  # PIN, TYPO or DIGEST
    path: str  # display path of the file edited
    edit: Edit
    location: Location  # of the replaced characters
    use: Location  # the reference it changes
    before: str  # the reference as resolved, before and after
    after: str
    description: str


@dataclass(frozen=True)
class Listed:
    """A reference that could be fixed but is not, and why."""

    location: Location
    image: str
    reason: str
    error: bool = False  # the registry did not answer: fix cannot know


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    listed: list[Listed] = field(default_factory=list)

    def by_path(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for c in self.changes:
            out.setdefault(c.path, []).append(c)
        return out


@dataclass(frozen=True)
class Want:
    """What a fix wants for one reference: the kind of fix, the resolved reference after it, and its description."""

    kind: str
    after: str  # the resolved reference wanted
    description: str
