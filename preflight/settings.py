"""The vocabulary of settings: one ``Setting`` per configuration key, who may set it (``Trust``), its
command-line ``Flag``, and the value parsers rows share.

Both ``preflight.config`` (the table of run-wide settings, the config files and the command line) and
the rules (each declares its own options: ``@rule(..., options=(SETTING,))``) import this module; it
imports neither. A parser takes ``(value, name, root)``: the value as a file (or the command line)
wrote it, how messages name it (``"file:line: key"`` or ``"--flag"``) and the config file's directory
(for paths), and returns the typed value or raises ``ConfigError``.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

RULE_OPTIONS = "rule_options"  # the Config field holding the options rules declare, by key


class ConfigError(Exception):
    """Invalid configuration (unknown key, wrong type). The CLI exits 2 with this message."""


class Trust(enum.Enum):
    """May a project's config file (``.preflight.yaml``, ``[tool.preflight]``) set this?"""

    PROJECT = "project"  # yes, in every mode: it only decides what is reported
    NOT_UNTRUSTED = "not-untrusted"  # not under --untrusted: dropped with a warning naming it
    USER_ONLY = "user-only"  # never: only the user's file or the command line
    CAPPED = "capped"  # yes, but never above the user's value (default when unset), in every mode


Parse = Callable[[Any, str, Path], T]  # (value, "file:line: key" for messages, config directory) -> value
Combine = Callable[[Any, Any], Any]  # (value so far, command-line value) -> value


def replace(_old: Any, new: Any) -> Any:
    return new


def append(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return unique(old + new)


def update(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {**old, **new}


@dataclass(frozen=True)
class Flag:
    """How the command line sets a setting; ``preflight.cliopts`` turns it into a click option.

    ``shape``: ``"list"`` (repeatable), ``"switch"`` (a flag, unset = None), ``"text"``, ``float``,
    ``int``, or a tuple of choices. ``read`` turns click's value into what ``config.merge_cli`` takes
    (None: not given; it may raise ``ConfigError``).
    """

    name: str  # "--select"
    help: str
    shape: Any = "text"
    metavar: str | None = None
    read: Callable[[Any], Any] | None = None  # default: empty -> None, else the value as given


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per key
class Setting(Generic[T]):
    """One key of the configuration: how it is read, who may set it, which option sets it."""

    key: str  # kebab-case key in the files
    parse: Parse[T]  # validates a file value (and, through ``config.cli_value``, a command-line value)
    trust: Trust
    why: str  # the reason for ``trust``, shown when a project's value is dropped
    flag: Flag | None = None  # command-line option, when there is one
    combine: Combine = replace  # how a command-line value combines with the configured one
    default: T = None  # type: ignore[assignment]  # the value when no file or flag sets it
    attr: str = RULE_OPTIONS  # Config (or RegistryConfig) field; a rule's option lives in Config.rule_options

    @property
    def option(self) -> str:
        """How messages name the command-line value."""
        return self.flag.name if self.flag is not None else "--" + self.key


# ----------------------------------------------------------------- parsers


def kind(value: Any) -> str:
    """How messages name the type of a value a file wrote."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def str_list(value: Any, name: str, _root: Path | None = None) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{name}: expected a list of strings, got {kind(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{name}: expected a list of strings, found {kind(item)}")
        if not item.strip():
            raise ConfigError(f"{name}: expected a list of strings, found an empty string")
    return tuple(item.strip() for item in value)


def boolean(value: Any, name: str, _root: Path | None = None) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {kind(value)}")
    return value


def seconds(value: Any, name: str, _root: Path | None = None) -> int:
    """A whole number of seconds >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name}: expected a whole number of seconds >= 0, got {value!r}")
    return value


def positive_seconds(value: Any, name: str, _root: Path | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def str_map(value: Any, name: str, _root: Path | None = None) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping of names to strings, got {kind(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{name}: names must be strings, got {key!r}")
        if isinstance(item, str):
            out[key] = item
        elif isinstance(item, int) and not isinstance(item, bool):
            out[key] = str(item)
        else:
            raise ConfigError(f"{name}: value of {key} must be a string, got {kind(item)} (quote it in the file)")
    return out


_URL_RE = re.compile(r"https?://[^\s/?#]+(?:/[^\s?#]*)?\Z", re.IGNORECASE)


def url(value: Any, name: str, _root: Path | None = None) -> str:
    if not isinstance(value, str) or not _URL_RE.match(value.strip()):
        raise ConfigError(f"{name}: expected an http:// or https:// URL, got {value!r}")
    return value.strip().rstrip("/")


def path(value: Any, name: str, root: Path) -> str:
    """A file path; relative paths are taken from the config file's directory."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: expected a file path, got {kind(value)}")
    return os.path.normpath(root / os.path.expanduser(value.strip()))


_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*\Z", re.IGNORECASE)


def size(value: Any, name: str, _root: Path | None = None) -> int:
    """Bytes: a whole number, or a number with a unit (``500MB``, ``2GiB``, ``1.5G``; kB/MB/GB/TB decimal,
    KiB/MiB/GiB/TiB and a bare K/M/G/T binary, as docker's own size options)."""
    match = _SIZE_RE.match(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(f"{name}: expected a size in bytes such as 2GiB, 500MB or 1073741824, got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    decimal = len(unit) == 2 and unit != "ib"  # kB, MB, GB, TB
    power = "bkmgt".index(unit[0])
    return int(number * (1000**power if decimal else 1024**power))
