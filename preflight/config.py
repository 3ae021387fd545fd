"""Configuration: CLI options > ``.preflight.yaml`` | ``[tool.preflight]`` in pyproject.toml > defaults.

``load_config(cwd)`` looks in ``cwd`` and then each parent directory up to the filesystem root;
the first directory holding ``.preflight.yaml``, ``.preflight.yml`` or a ``pyproject.toml`` with a
``[tool.preflight]`` table wins (in that order within one directory; a ``pyproject.toml``
without the table does not stop the search). ``--config FILE`` replaces the search: a file named
``pyproject.toml`` is read for its ``[tool.preflight]`` table, any other ``*.toml`` file as a
top-level table, anything else as YAML.

Keys are kebab-case only (``fail-level``, not ``fail_level``)::

    select: [PF1, PF201]          # rule IDs or ID prefixes; replaces the default rule set
    extend-select: [PF103]        # rule IDs or prefixes enabled on top of the selection (opt-in rules)
    ignore: [PF103]               # rule IDs or ID prefixes
    rules: {PF102: error, PF101: off}   # per-rule level: error, warning, note, off
    trusted-registries: [ghcr.io, "*.example.com"]
    build-args: {PYTHON_VERSION: "3.12"}  # strings (integers accepted); quote 3.10-like values
    exclude: ["vendor/**", "*.dev.yaml"]  # globs, see preflight.discover
    fail-level: warning           # error, warning, note or none (never fail)
    offline: false
    platforms: [linux/amd64, linux/arm64/v8]
    registries:
      localhost:5000: {insecure: true, endpoint: "http://127.0.0.1:5000"}
      docker.io: {mirrors: ["https://mirror.gcr.io"]}
      registry.example.com: {ca-file: certs/ca.pem}   # relative to the config file's directory
    daemon-json: /etc/docker/daemon.json  # relative paths: from the config file's directory
    cache-ttl: 3600               # seconds (integer >= 0)
    cache-negative-ttl: 300
    timeout: 30                   # seconds (number > 0)
    concurrency: 32               # requests in flight per registry host (1-256)

Unknown keys, wrong types, unknown rule IDs and unreadable or malformed files raise
``ConfigError`` naming the file (with the line for YAML) and the key. YAML 1.1 reads a bare
``off`` as false; in ``rules:`` that means ``off``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from .model import Level


class ConfigError(Exception):
    """Invalid configuration (unknown key, wrong type). The CLI exits 2 with this message."""


@dataclass(frozen=True)
class RegistryConfig:
    """Per-registry endpoint settings (``registries:`` in the config file)."""

    mirrors: tuple[str, ...] = ()  # base URLs tried first (docker.io only, as Docker does)
    insecure: bool = False  # plain HTTP / unverified TLS allowed for this host
    ca_file: str | None = None  # absolute path of a PEM bundle to trust for this host
    endpoint: str | None = None  # base URL override, e.g. "http://127.0.0.1:5000" (tests, proxies)


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    levels: Mapping[str, Level] = field(default_factory=dict)
    trusted_registries: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    fail_level: Level = Level.WARNING
    offline: bool = False
    platforms: tuple[str, ...] = ()
    registries: Mapping[str, RegistryConfig] = field(default_factory=dict)
    daemon_json: str | None = None  # path of Docker's daemon.json to read mirrors/insecure from
    cache_ttl: int = 3600  # seconds, positive answers
    cache_negative_ttl: int = 300  # seconds, negative answers
    timeout: float = 30.0  # overall deadline for the registry step, seconds
    engine: str | None = None  # container engine: URL, "off", None = found as the docker CLI finds it (user-level only)
    allow_env: tuple[str, ...] = ()  # environment variables checked files may read under --untrusted
    concurrency: int = 32  # requests in flight per registry host (README "Speed" justifies the default)
    source: str | None = None  # file the configuration came from, for messages
    root: str | None = None  # directory of that file (project root), absolute


YAML_NAMES = (".preflight.yaml", ".preflight.yml")
PYPROJECT = "pyproject.toml"

KEYS = (
    "select", "extend-select", "ignore", "rules", "trusted-registries", "build-args", "exclude", "fail-level",
    "offline", "platforms", "registries", "daemon-json", "cache-ttl", "cache-negative-ttl", "timeout",
    "concurrency",
)  # fmt: skip
REGISTRY_KEYS = ("mirrors", "insecure", "ca-file", "endpoint")
# Config fields whose command-line option is spelled differently (repeatable options are singular).
_CLI_NAMES = {"platforms": "--platform", "build_args": "--build-arg"}
FAIL_LEVELS = {"error": Level.ERROR, "warning": Level.WARNING, "note": Level.NOTE, "none": Level.OFF}

_URL_RE = re.compile(r"https?://[^\s/?#]+(?:/[^\s?#]*)?\Z", re.IGNORECASE)


# ----------------------------------------------------------------- public API


def load_config(cwd: Path, explicit: Path | None = None) -> Config:
    """The configuration for a run in ``cwd``: ``explicit`` if given, else the nearest file."""
    cwd = Path(os.path.abspath(cwd))
    if explicit is not None:
        path = Path(os.path.abspath(cwd / explicit))
        where = _Where(path, cwd, table="[tool.preflight]" if path.name == PYPROJECT else "")
        if not path.is_file():
            raise ConfigError(f"{where.file}: config file {'is not a file' if path.exists() else 'not found'}")
        data = _read(path, where, require_table=True)
        return _build(data, where)
    for directory in (cwd, *cwd.parents):
        for name in YAML_NAMES:
            path = directory / name
            if path.is_file():
                where = _Where(path, cwd)
                return _build(_read(path, where, require_table=True), where)
        path = directory / PYPROJECT
        if path.is_file():
            where = _Where(path, cwd, table="[tool.preflight]")
            table = _read(path, where, require_table=False)
            if table is not None:
                return _build(table, where)
    return Config()


def merge_cli(config: Config, **overrides: Any) -> Config:
    """Apply command-line values to ``config``; a value of None means "not given".

    ``select`` replaces the configured selection; ``extend_select``, ``ignore``, ``exclude``, ``platforms``,
    ``trusted_registries`` and ``allow_env`` are appended; ``build_args`` override configured ones key by key;
    ``levels`` override per rule; ``fail_level`` takes a Level or its name; any other ``Config``
    field is replaced. Invalid values raise ``ConfigError`` naming the option (``--select``).
    """
    names = {f.name for f in dataclasses.fields(Config)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise TypeError(f"merge_cli() got an unknown option {key!r}")
        if value is None:
            continue
        option = _CLI_NAMES.get(key, "--" + key.replace("_", "-"))
        if key in ("select", "extend_select", "ignore"):
            ids = _rule_patterns(_as_str_list(value, option), option, prefixes=True)
            changes[key] = ids if key == "select" else _unique(getattr(config, key) + ids)
        elif key in ("exclude", "platforms", "trusted_registries", "allow_env"):
            items = _as_str_list(value, option)
            if key == "exclude":
                _check_excludes(items, option)
            if key == "platforms":
                _check_platforms(items, option)
            changes[key] = _unique(getattr(config, key) + items)
        elif key == "build_args":
            changes[key] = {**config.build_args, **_str_map(value, option)}
        elif key == "levels":
            changes[key] = {**config.levels, **_levels(value, option)}
        elif key == "fail_level":
            changes[key] = _fail_level(value, option)
        elif key == "timeout":
            changes[key] = _positive_number(value, option)
        elif key == "concurrency":
            changes[key] = _concurrency(value, option)
        elif key in ("cache_ttl", "cache_negative_ttl"):
            changes[key] = _non_negative_int(value, option)
        elif key == "offline":
            changes[key] = _bool(value, option)
        else:
            changes[key] = value
    return dataclasses.replace(config, **changes)


# ----------------------------------------------------------------- reading files


class _Where:
    """Names a place in a config file for error messages."""

    def __init__(self, path: Path, cwd: Path, table: str = "") -> None:
        from .discover import display_path

        self.path = path
        self.file = display_path(path, cwd)
        self.table = table

    def line(self, node: Any = None, name: Any = None) -> str:
        """``file:line`` of key ``name`` in a YAML mapping ``node``; ``file`` when unknown (TOML)."""
        line = getattr(node, "lines", {}).get(name) if node is not None else None
        return f"{self.file}:{line}" if line else self.file

    def at(self, key: str, node: Any = None, name: Any = None) -> str:
        """``file:line: key`` (``file: [tool.preflight].key`` for pyproject.toml)."""
        return f"{self.line(node, name)}: {self.table}.{key}" if self.table else f"{self.line(node, name)}: {key}"

    def unknown(self, key: Any, node: Any, choices: Iterable[str], inside: str = "") -> ConfigError:
        scope = ".".join(s for s in (self.table, inside) if s)
        where = f" in {scope}" if scope else ""
        return ConfigError(f"{self.line(node, key)}: unknown key{_hint(key, choices)}{where}")


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers the 1-based line of each key."""

    lines: dict[Any, int]


@functools.lru_cache(maxsize=1)
def _loader() -> type:
    """A SafeLoader that refuses duplicate keys and records key lines (built on first use: the
    yaml import is skipped by runs without a YAML config file)."""
    import yaml

    def construct_map(loader: Any, node: Any) -> _Map:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key_node.value)
        loader.flatten_mapping(node)
        out = _Map()
        out.lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value", key_node.start_mark
                ) from None
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("tag:yaml.org,2002:map", construct_map)
    return Loader


@overload
def _read(path: Path, where: _Where, require_table: Literal[True]) -> Mapping[Any, Any]: ...


@overload
def _read(path: Path, where: _Where, require_table: bool) -> Mapping[Any, Any] | None: ...


def _read(path: Path, where: _Where, require_table: bool) -> Mapping[Any, Any] | None:
    """The settings table of a config file; None for a pyproject.toml without one (when allowed)."""
    from .textfile import InputError, read_text

    try:
        text = read_text(path)
    except InputError as exc:
        raise ConfigError(f"{where.file}:{exc.line}: cannot read config file: {exc.message}") from None
    if path.suffix == ".toml":
        return _read_toml(text, path, where, require_table)
    import yaml

    from . import yamlpos

    # preflight's own YAML limits first (nesting, alias expansion): PyYAML's Python composer recurses
    # once per level, and libyaml has a nesting limit of its own.
    fatal = next((issue for issue in yamlpos.load(text).issues if issue.fatal), None)
    if fatal is not None:
        raise ConfigError(f"{where.file}:{fatal.line}: {fatal.message}")
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        from .yamlpos import TAB_PROBLEM, is_tab_error, split_lines

        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context
        if mark is not None and is_tab_error(split_lines(text), mark.line + 1, mark.column + 1):
            problem = TAB_PROBLEM
        raise ConfigError(f"{where.file}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where.file}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where.file}: expected a mapping of settings, got {_kind(data)}")
    return data


def _read_toml(text: str, path: Path, where: _Where, require_table: bool) -> Mapping[Any, Any] | None:
    import tomllib  # only when a TOML file is read

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        pos = re.search(r"\s*\(at line (\d+), column \d+\)$", msg)
        if pos:
            raise ConfigError(f"{where.file}:{pos.group(1)}: invalid TOML: {msg[: pos.start()]}") from None
        raise ConfigError(f"{where.file}: invalid TOML: {msg}") from None
    if path.name != PYPROJECT:
        return doc
    tool = doc.get("tool")
    table = tool.get("preflight") if isinstance(tool, dict) else None
    if table is None:
        if require_table:
            raise ConfigError(f"{where.file}: no [tool.preflight] table")
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{where.file}: [tool.preflight] must be a table, got {_kind(table)}")
    return table


# ----------------------------------------------------------------- validation


def _build(data: Mapping[Any, Any], where: _Where) -> Config:
    root = where.path.parent
    values: dict[str, Any] = {"source": str(where.path), "root": str(root)}
    for key, value in data.items():
        if key not in KEYS:
            raise where.unknown(key, data, KEYS)
        name = where.at(key, data, key)
        attr = key.replace("-", "_")
        if key in ("select", "extend-select", "ignore"):
            values[attr] = _rule_patterns(_str_list(value, name), name, prefixes=True)
        elif key == "rules":
            values["levels"] = _levels(value, name)
        elif key == "trusted-registries":
            values[attr] = _str_list(value, name)
        elif key == "exclude":
            values[attr] = _check_excludes(_str_list(value, name), name)
        elif key == "platforms":
            values[attr] = _check_platforms(_str_list(value, name), name)
        elif key == "build-args":
            values[attr] = _str_map(value, name)
        elif key == "fail-level":
            values[attr] = _fail_level(value, name)
        elif key == "offline":
            values[attr] = _bool(value, name)
        elif key == "registries":
            values[attr] = _registries(value, name, where, root)
        elif key == "daemon-json":
            values[attr] = _path(value, name, root)
        elif key in ("cache-ttl", "cache-negative-ttl"):
            values[attr] = _non_negative_int(value, name)
        elif key == "timeout":
            values[attr] = _positive_number(value, name)
        elif key == "concurrency":
            values[attr] = _concurrency(value, name)
    return Config(**values)


def _registries(value: Any, name: str, where: _Where, root: Path) -> dict[str, RegistryConfig]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of registry host to settings, got {_kind(value)}")
    out: dict[str, RegistryConfig] = {}
    for host, settings in value.items():
        at_host = where.at(f"registries.{host}", value, host)
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{at_host}: a registry host must be a string (quote it)")
        if not isinstance(settings, dict):
            raise ConfigError(f"{at_host}: expected a mapping, got {_kind(settings)}")
        fields: dict[str, Any] = {}
        for key, item in settings.items():
            if key not in REGISTRY_KEYS:
                raise where.unknown(key, settings, REGISTRY_KEYS, f"registries.{host}")
            name = where.at(f"registries.{host}.{key}", settings, key)
            if key == "mirrors":
                fields["mirrors"] = tuple(_url(u, name) for u in _str_list(item, name))
            elif key == "insecure":
                fields["insecure"] = _bool(item, name)
            elif key == "ca-file":
                fields["ca_file"] = _path(item, name, root)
            elif key == "endpoint":
                fields["endpoint"] = _url(item, name)
        out[host.strip()] = RegistryConfig(**fields)
    return out


def _kind(value: Any) -> str:
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


def _hint(key: Any, choices: Iterable[str]) -> str:
    text = str(key)
    close = difflib.get_close_matches(text.replace("_", "-"), list(choices), n=1)
    if not close:
        return f" {text!r}"
    note = " keys are kebab-case" if "_" in text else ""
    return f" {text!r} (did you mean {close[0]!r}?{note})"


def _str_list(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{name}: expected a list of strings, got {_kind(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{name}: expected a list of strings, found {_kind(item)}")
        if not item.strip():
            raise ConfigError(f"{name}: expected a list of strings, found an empty string")
    return tuple(item.strip() for item in value)


def _as_str_list(value: Any, name: str) -> tuple[str, ...]:
    """CLI values: one string or a sequence of strings."""
    if isinstance(value, str):
        value = [value]
    return _str_list(list(value), name)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {_kind(value)}")
    return value


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name}: expected a whole number of seconds >= 0, got {value!r}")
    return value


MAX_CONCURRENCY = 256


def _concurrency(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError(
            f"{name}: expected a whole number of requests per host from 1 to {MAX_CONCURRENCY}, got {value!r}"
        )
    return value


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def _str_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping of names to strings, got {_kind(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{name}: names must be strings, got {key!r}")
        if isinstance(item, str):
            out[key] = item
        elif isinstance(item, int) and not isinstance(item, bool):
            out[key] = str(item)
        else:
            raise ConfigError(f"{name}: value of {key} must be a string, got {_kind(item)} (quote it in the file)")
    return out


def _fail_level(value: Any, name: str) -> Level:
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


def _levels(value: Any, name: str) -> dict[str, Level]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping of rule ID to level, got {_kind(value)}")
    out: dict[str, Level] = {}
    for rule_id, level in value.items():
        if not isinstance(rule_id, str):
            raise ConfigError(f"{name}: rule IDs must be strings, got {rule_id!r}")
        (rid,) = _rule_patterns((rule_id,), name, prefixes=False)
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


def _rule_patterns(values: Iterable[str], name: str, *, prefixes: bool) -> tuple[str, ...]:
    """Upper-cased rule IDs; each must name a registered rule (or prefix one, if allowed)."""
    from .engine import all_rules

    known = [r.id for r in all_rules()]
    out: list[str] = []
    for value in values:
        text = value.strip().upper()
        if text in known or (prefixes and text and any(k.startswith(text) for k in known)):
            out.append(text)
            continue
        what = "rule ID or prefix" if prefixes else "rule ID"
        close = difflib.get_close_matches(text, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{name}: unknown {what} {value!r}{hint}")
    return _unique(out)


def _check_excludes(patterns: tuple[str, ...], name: str) -> tuple[str, ...]:
    from .discover import compile_excludes

    try:
        compile_excludes(patterns)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return patterns


def _check_platforms(platforms: tuple[str, ...], name: str) -> tuple[str, ...]:
    from .platforms import platform_error

    for platform in platforms:
        error = platform_error(platform)
        if error is not None:
            raise ConfigError(f"{name}: {error}")
    return platforms


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _URL_RE.match(value.strip()):
        raise ConfigError(f"{name}: expected an http:// or https:// URL, got {value!r}")
    return value.strip().rstrip("/")


def _path(value: Any, name: str, root: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: expected a file path, got {_kind(value)}")
    return os.path.normpath(root / os.path.expanduser(value.strip()))
