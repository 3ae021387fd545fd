"""Parsers of the run-wide settings' values (``table.SETTINGS``), and how a command-line flag's value
becomes the value ``merge_cli`` takes (``Flag.read``). Each raises ``ConfigError`` naming the key."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..model import Level
from ..settings import ConfigError, kind, str_list, unique, url

FAIL_LEVELS = {"error": Level.ERROR, "warning": Level.WARNING, "note": Level.NOTE, "none": Level.OFF}
MAX_CONCURRENCY = 256
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def rule_list(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    return rule_patterns(str_list(value, name), name, prefixes=True)


def excludes(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    from ..discover import compile_excludes

    patterns = str_list(value, name)
    try:
        compile_excludes(patterns)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return patterns


def platform_list(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    from ..platforms import platform_error

    platforms = str_list(value, name)
    for platform in platforms:
        error = platform_error(platform)
        if error is not None:
            raise ConfigError(f"{name}: {error}")
    return platforms


def engine(value: Any, name: str, _root: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{name} must be "off" or an engine address such as unix:///var/run/docker.sock')
    return value.strip()


def env_names(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    names = str_list(value, name)
    for item in names:
        if not _ENV_NAME_RE.match(item):
            raise ConfigError(f"{name}: {item!r} is not an environment variable name")
    return names


def concurrency(value: Any, name: str, _root: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError(
            f"{name}: expected a whole number of requests per host from 1 to {MAX_CONCURRENCY}, got {value!r}"
        )
    return value


def registry_urls(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    return tuple(url(u, name) for u in str_list(value, name))


def fail_level(value: Any, name: str, _root: Path | None = None) -> Level:
    """error, warning or note; ``none`` (Level.OFF) means findings never fail the run."""
    if isinstance(value, Level):
        return value
    if value is False:  # YAML 1.1 reads an unquoted `off` / `no` as false
        return Level.OFF
    text = value.strip().lower() if isinstance(value, str) else None
    if text == "off":
        return Level.OFF
    if text in FAIL_LEVELS:
        return FAIL_LEVELS[text]
    raise ConfigError(f"{name}: expected error, warning, note or none, got {value!r}")


def levels(value: Any, name: str, _root: Path | None = None) -> dict[str, Level]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping of rule ID to level, got {kind(value)}")
    out: dict[str, Level] = {}
    for rule_id, level in value.items():
        if not isinstance(rule_id, str):
            raise ConfigError(f"{name}: rule IDs must be strings, got {rule_id!r}")
        (rid,) = rule_patterns((rule_id,), name, prefixes=False)
        if level is False:  # YAML 1.1 reads a bare `off` (or `no`) as false
            out[rid] = Level.OFF
        elif isinstance(level, Level):
            out[rid] = level
        elif isinstance(level, str):
            try:
                out[rid] = Level.parse(level)
            except ValueError as exc:
                raise ConfigError(f"{name}: {rid}: {exc}") from None
        else:
            raise ConfigError(f"{name}: {rid}: expected error, warning, note or off, got {level!r}")
    return out


def rule_patterns(values: Iterable[str], name: str, *, prefixes: bool) -> tuple[str, ...]:
    """Upper-cased rule IDs; each must name a rule in the rule book (or prefix one, if allowed)."""
    from ..rulebook import all_rules

    known = [r.id for r in all_rules()]
    out: list[str] = []
    for value in values:
        text = value.strip().upper()
        if text in known or (prefixes and text and any(k.startswith(text) for k in known)):
            out.append(text)
            continue
        what = "rule ID or prefix" if prefixes else "rule ID"
        import difflib  # only for the message of an unknown rule

        close = difflib.get_close_matches(text, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{name}: unknown {what} {value!r}{hint}")
    return unique(out)


# ----------------------------------------------------------------- command-line values (Flag.read)


def rule_ids_flag(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--select PF1,PF2 --select PF3``: comma-separated and repeatable."""
    return tuple(i.strip().upper() for v in values for i in v.split(",") if i.strip()) or None


def build_args_flag(values: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise ConfigError(f"--build-arg {item!r}: expected KEY=VALUE")
        if sep:
            out[key] = value
        elif key in os.environ:  # docker build --build-arg KEY takes the value from the environment
            out[key] = os.environ[key]
    return out or None


def build_contexts_flag(values: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not name or not sep or not value:
            raise ConfigError(f"--build-context {item!r}: expected NAME=VALUE")
        out[name] = value
    return out or None


def fail_level_flag(value: str | None) -> Level | None:
    if value is None:
        return None
    return Level.OFF if value == "none" else Level.parse(value)


def engine_flag(value: str | None) -> str | None:
    """``--engine``: ``off`` or an address the engine code can use."""
    if value is None:
        return None
    from ..localengine.discover import OFF, Unusable, find_engine

    if value.strip().lower() == OFF:
        return OFF
    found = find_engine({}, value)
    if isinstance(found, Unusable) and found.supported:
        raise ConfigError(f"--engine {found.endpoint}: {found.reason}")
    return value.strip()
