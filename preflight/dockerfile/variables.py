"""Variable values as BuildKit resolves them for the reader: the predefined platform args and the
expansion of a word in a scope, with where each variable got its value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..interpolate import MAX_EXPANSION, Budget, Dialect, ExpansionTooCostly, ExpansionTooLong, expand
from ..model import Location, ValueSource
from ..platforms import normalize_platform

_DEFAULT_PLATFORM = ("linux", "amd64", "")


@dataclass(frozen=True)
class Value:
    """A variable's value or an expansion's result; ``text is None`` when unknown."""

    text: str | None
    missing: tuple[str, ...] = ()  # variables without a value it depends on
    errors: tuple[str, ...] = ()  # ${V:?msg} messages
    host: bool = False  # derived from a predefined platform arg
    origin: str = "arg"  # where a variable's value comes from (ValueSource.origin)
    where: Location | None = None  # an ARG default written literally: its text
    sources: tuple[ValueSource, ...] = ()  # an expansion's variables: where each got its value
    too_long: bool = False  # an ARG whose value expands past MAX_EXPANSION: never built, an error where used
    too_costly: bool = False  # an ARG whose patterns ran out of the file's matching budget: an error where used


def platform_values(target_platform: str | None) -> dict[str, Value]:
    """The predefined platform args: BUILD* are linux/amd64, TARGET* follow ``target_platform``."""
    out: dict[str, Value] = {}
    for prefix, (os_, arch, variant) in (("BUILD", _DEFAULT_PLATFORM), ("TARGET", _platform_parts(target_platform))):
        platform = f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"
        for key, val in (("PLATFORM", platform), ("OS", os_), ("ARCH", arch), ("VARIANT", variant)):
            out[prefix + key] = Value(val, host=True, origin="platform")
    return out


def _platform_parts(platform: str | None) -> tuple[str, str, str]:
    """``os/arch[/variant]`` normalized as containerd does (preflight.platforms); linux/amd64 if unusable."""
    written = [b.strip() for b in (platform or "").split("/")]
    if len(written) < 2 or not written[0] or not written[1]:
        return _DEFAULT_PLATFORM  # checked as written: normalizing drops empty parts (linux//v7 -> linux/v7)
    bits = normalize_platform(platform or "").split("/")
    return bits[0], bits[1], bits[2] if len(bits) > 2 else ""


def evaluate_word(
    word: str,
    scope: Mapping[str, Value],
    dialect: Dialect,
    limit: int = MAX_EXPANSION,
    budget: Budget | None = None,
) -> Value:
    """Expand ``word`` in ``scope``. Raises ExpansionError for malformed syntax, ExpansionTooLong
    past ``limit`` characters or when a variable it uses is too long itself, ExpansionTooCostly
    when its patterns (or a variable's) exhaust ``budget``."""
    if "$" not in word and (dialect.escape or "\\") not in word and "'" not in word and '"' not in word:
        return Value(word)
    used: list[str] = []

    def lookup(name: str) -> str | None:
        used.append(name)
        v = scope.get(name)
        if v is not None and v.too_long:
            raise ExpansionTooLong(MAX_EXPANSION, name)
        if v is not None and v.too_costly:
            raise ExpansionTooCostly(name)
        return None if v is None else v.text

    exp = expand(word, lookup, dialect, limit, budget)
    missing: list[str] = []
    errors = list(exp.errors)
    for name in exp.unresolved:
        v = scope.get(name)
        if v is None:
            missing.append(name)
        else:
            missing.extend(v.missing)
            errors.extend(v.errors)
    host = any(scope[name].host for name in set(used) if name in scope)
    text = None if errors else exp.text
    sources = tuple(_source(name, scope.get(name)) for name in dict.fromkeys(used))
    return Value(text, tuple(dict.fromkeys(missing)), tuple(dict.fromkeys(errors)), host, sources=sources)


def _source(name: str, value: Value | None) -> ValueSource:
    if value is None or value.text is None:
        return ValueSource(name, "unset")
    return ValueSource(name, value.origin, value.where)
