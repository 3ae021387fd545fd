"""What a rule module imports (``Hit``, ``Subject``, ``RuleContext``, ``rule``), and the book of every
rule (the registry).

A rule is a pure function ``check(subject, ctx) -> Iterable[Hit]`` registered with ``@rule``; the
options it reads are ``settings.Setting`` rows it declares beside it (``options=``), read back with
``ctx.options[SETTING]``. ``preflight.engine`` (selection, evaluation) and ``preflight.config``
(validating rule IDs, the rules' options as keys of the one settings table) both import this module;
it imports neither. Importing ``preflight.rules`` registers every rule (``all_rules`` does it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .model import Fix, ImageUse, Level, Location, clip
from .resolve import Subject
from .settings import Setting

if TYPE_CHECKING:
    from .facts import EngineFacts, ImageFacts

T = TypeVar("T")


@dataclass(frozen=True)
class Hit:
    """What a rule reports; the engine adds the rule ID, level and image."""

    message: str
    location: Location | None = None  # default: the image use's location
    suggestions: tuple[str, ...] = ()
    fixes: tuple[Fix, ...] = ()
    group: str | None = None  # hits of one rule with the same group are reported once (first place)
    level: Level | None = None  # this hit's level, when the rule has two (PF214); a configured level wins


@dataclass(frozen=True)
class RuleOptions:
    """What rules know of the run's configuration: the values of the options rules declare (by key),
    and run-wide facts. (The platforms an image must provide are the subject's: ``Subject.platforms``.)"""

    values: Mapping[str, Any] = field(default_factory=dict)  # Setting.key -> value (config.rule_options)
    untrusted: bool = False  # --untrusted: compose interpolation read no environment (advice differs)

    def __getitem__(self, setting: Setting[T]) -> T:
        """The configured value of a rule's option, else its default."""
        value: T = self.values.get(setting.key, setting.default)
        return value


@dataclass(frozen=True)
class RuleContext:
    options: RuleOptions = RuleOptions()
    facts: Mapping[str, ImageFacts] = field(default_factory=dict)  # keyed by ImageRef.canonical
    engine: EngineFacts | None = None  # the local container engine, when one was found (None: absent or offline)


Check = Callable[[Subject, RuleContext], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str  # "PF102": never changes meaning
    name: str  # kebab-case slug naming the bad pattern: "latest-tag"
    summary: str  # one line; equals the summary line of rules/<id>.md
    level: Level  # default level; Level.OFF = disabled unless selected
    check: Check | None  # None: produced by readers (PF001) rather than per image use
    needs_registry: bool = False  # reads only the facts stage's answers (facts, engine): none, nothing to say
    tags: tuple[str, ...] = ()
    options: tuple[Setting[Any], ...] = ()  # the settings it reads (keys of the configuration)


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    name: str,
    summary: str,
    level: Level,
    *,
    needs_registry: bool = False,
    tags: tuple[str, ...] = (),
    options: tuple[Setting[Any], ...] = (),
) -> Callable[[Check], Check]:
    """Register a per-image-use check (and the options it reads)."""

    def register(fn: Check) -> Check:
        _add(Rule(id, name, summary, level, fn, needs_registry, tags, options))
        return fn

    return register


def declare(id: str, name: str, summary: str, level: Level, *, tags: tuple[str, ...] = ()) -> None:
    """Register a rule whose findings come from the readers (``Document.problems``)."""
    _add(Rule(id, name, summary, level, None, False, tags))


def _add(r: Rule) -> None:
    if r.id in RULES:
        raise RuntimeError(f"rule {r.id} registered twice")
    RULES[r.id] = r


def all_rules() -> list[Rule]:
    _load_rule_modules()
    return sorted(RULES.values(), key=lambda r: r.id)


def get_rule(rule_id: str) -> Rule | None:
    _load_rule_modules()
    return RULES.get(rule_id.upper())


def rule_settings() -> tuple[Setting[Any], ...]:
    """Every option the rules declare, once each (two rules may read one option), in rule order."""
    return tuple(dict.fromkeys(s for r in all_rules() for s in r.options))


def _load_rule_modules() -> None:
    from . import rules  # noqa: F401  (importing registers every rule)


def describe(use: ImageUse) -> str:
    """The image as written and, when different, as resolved: ``"${BASE}" (resolves to "python")``."""
    if use.resolved is not None and use.resolved != use.written:
        return f'"{clip(use.written)}" (resolves to "{clip(use.resolved)}")'
    return f'"{clip(use.written)}"'
