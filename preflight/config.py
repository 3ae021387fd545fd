"""Configuration: command line > project config > user config > defaults, driven by one table.

Where settings come from (lowest precedence first):

1. the defaults (the ``Config`` dataclass);
2. the **user's own file**, ``$XDG_CONFIG_HOME/preflight/config.yaml`` (``~/.config/preflight/config.yaml``
   when ``XDG_CONFIG_HOME`` is unset or relative); trusted;
3. the **project's file**, found from ``cwd`` upward: the first directory holding ``.preflight.yaml``,
   ``.preflight.yml`` or a ``pyproject.toml`` with a ``[tool.preflight]`` table wins (in that order within
   one directory; a ``pyproject.toml`` without the table does not stop the search). ``--config FILE``
   replaces the search, and a file the user names on the command line is the user's (trusted). A file
   named ``pyproject.toml`` is read for its ``[tool.preflight]`` table, any other ``*.toml`` file as a
   top-level table, anything else as YAML;
4. the command line.

A later file replaces an earlier file's value key by key (``registries`` host by host and setting by
setting, ``build-args`` name by name). Rule selection follows ruff: the highest-precedence ``select``
is the basis and drops the ``extend-select``, ``ignore`` and enabling ``rules`` levels of every
source below it; ``extend-select``/``ignore`` then add on top (``_stack_rules``).

**Trust.** Every setting in ``SETTINGS`` / ``REGISTRY_SETTINGS`` declares whether a project file may
set it (``Trust``): a project file is written by whoever wrote the repository, and under ``--untrusted``
that is a stranger, while the runner holds credentials. A setting that can lower transport trust,
redirect traffic or choose a file to read is dropped from a project file under ``--untrusted``, with a
warning naming it; ``allow-env`` is never taken from a project; cache lifetimes from a project are
capped at the user's (they outlive the run, in the user's own cache). ``tests/test_config_trust.py``
walks every key, so a setting added without a decision fails.

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
    deep: false                   # check every manifest, config and layer blob (PF213), download sizes
    disk-margin: 2GiB             # free space a pull must leave on the engine's data root (PF214): bytes or 500MB, 2GiB
    allow-env: [REGISTRY_HOST]    # user's file only: variables interpolation may read under --untrusted

Unknown keys, wrong types, unknown rule IDs and unreadable or malformed files raise
``ConfigError`` naming the file (with the line for YAML) and the key. YAML 1.1 reads a bare
``off`` as false; in ``rules:`` that means ``off``.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
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
    allow_env: tuple[str, ...] = ()  # process variables interpolation may read under --untrusted
    build_contexts: Mapping[str, str] = field(default_factory=dict)  # --build-context NAME=VALUE (BuildKit)
    compose_files: tuple[str, ...] = ()  # globs of further files to read as compose files
    engine: str | None = None  # container engine: URL, "off", None = found as the docker CLI finds it
    concurrency: int = 32  # requests in flight per registry host (README "Speed" justifies the default)
    deep: bool = False  # --deep: every manifest, config and layer blob checked (PF213), download sizes
    disk_margin: int = 2 << 30  # bytes a pull must leave free on the engine's data root (PF214; README says why)
    # Not settings (no key in any file):
    cli_build_args: Mapping[str, str] = field(default_factory=dict)  # --build-arg: wins over compose build.args
    source: str | None = None  # file the configuration came from (the project's, else the user's), for messages
    root: str | None = None  # directory of that file, absolute
    warnings: tuple[str, ...] = ()  # settings dropped or capped while loading, for the user


YAML_NAMES = (".preflight.yaml", ".preflight.yml")
PYPROJECT = "pyproject.toml"
USER_CONFIG = Path("preflight") / "config.yaml"  # under $XDG_CONFIG_HOME (~/.config)
FAIL_LEVELS = {"error": Level.ERROR, "warning": Level.WARNING, "note": Level.NOTE, "none": Level.OFF}

_URL_RE = re.compile(r"https?://[^\s/?#]+(?:/[^\s?#]*)?\Z", re.IGNORECASE)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# ----------------------------------------------------------------- the table of settings


class Trust(enum.Enum):
    """May a project's config file (``.preflight.yaml``, ``[tool.preflight]``) set this?"""

    PROJECT = "project"  # yes, in every mode: it only decides what is reported
    NOT_UNTRUSTED = "not-untrusted"  # not under --untrusted: dropped with a warning naming it
    USER_ONLY = "user-only"  # never: only the user's file or the command line
    CAPPED = "capped"  # yes, but never above the user's value (default when unset), in every mode


Parse = Callable[[Any, str, Path], Any]  # (value, "file:line: key" for messages, config directory) -> value
Combine = Callable[[Any, Any], Any]  # (value so far, command-line value) -> value


def _replace(_old: Any, new: Any) -> Any:
    return new


def _append(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return _unique(old + new)


def _update(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {**old, **new}


@dataclass(frozen=True)
class Setting:
    """One key of the configuration: how it is read, who may set it, which option sets it."""

    key: str  # kebab-case key in the files
    attr: str  # Config (or RegistryConfig) field; its default is the field's default
    parse: Parse  # validates a file value (and, through ``cli_value``, a command-line value)
    trust: Trust
    why: str  # the reason for ``trust``, shown when a project's value is dropped
    flag: str | None = None  # command-line option, when there is one
    combine: Combine = _replace  # how a command-line value combines with the configured one

    @property
    def default(self) -> Any:
        owner = RegistryConfig if self.key.startswith("registries.") else Config
        spec = owner.__dataclass_fields__[self.attr]
        factory = spec.default_factory
        return factory() if factory is not dataclasses.MISSING else spec.default

    @property
    def option(self) -> str:
        """How messages name the command-line value."""
        return self.flag or "--" + self.key


def _rule_list(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    return _rule_patterns(_str_list(value, name), name, prefixes=True)


def _excludes(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    return _check_excludes(_str_list(value, name), name)


def _platform_list(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    return _check_platforms(_str_list(value, name), name)


def _engine(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{name} must be "off" or an engine address such as unix:///var/run/docker.sock')
    return value.strip()


def _env_names(value: Any, name: str, _root: Path) -> tuple[str, ...]:
    names = _str_list(value, name)
    for item in names:
        if not _ENV_NAME_RE.match(item):
            raise ConfigError(f"{name}: {item!r} is not an environment variable name")
    return names


_REPORTING = "it only decides what is reported"
_FILES = "a project may not choose files outside what it is checking"
SETTINGS: tuple[Setting, ...] = (
    Setting("select", "select", _rule_list, Trust.PROJECT, _REPORTING, "--select"),
    Setting("extend-select", "extend_select", _rule_list, Trust.PROJECT, _REPORTING, "--extend-select", _append),
    Setting("ignore", "ignore", _rule_list, Trust.PROJECT, _REPORTING, "--ignore", _append),
    Setting("rules", "levels", lambda v, n, _r: _levels(v, n), Trust.PROJECT, _REPORTING, None, _update),
    Setting(
        "trusted-registries", "trusted_registries", lambda v, n, _r: _str_list(v, n), Trust.PROJECT,
        "a policy check (PF104); it sends nothing anywhere", None, _append,
    ),
    Setting(
        "build-args", "build_args", lambda v, n, _r: _str_map(v, n), Trust.PROJECT,
        "values for the project's own Dockerfiles, which may name any image anyway; the address guard still applies",
        "--build-arg", _update,
    ),
    Setting("exclude", "exclude", _excludes, Trust.PROJECT, "it only narrows what is read", "--exclude", _append),
    Setting("fail-level", "fail_level", lambda v, n, _r: _fail_level(v, n), Trust.PROJECT, _REPORTING, "--fail-level"),
    Setting("offline", "offline", lambda v, n, _r: _bool(v, n), Trust.PROJECT, "it only removes network use", "--offline"),
    Setting("platforms", "platforms", _platform_list, Trust.PROJECT, _REPORTING, "--platform", _append),
    Setting(
        "registries", "registries", lambda v, n, r: v, Trust.PROJECT,
        "a container: each of its keys declares its own trust (REGISTRY_SETTINGS)",
    ),
    Setting(
        "daemon-json", "daemon_json", lambda v, n, r: _path(v, n, r), Trust.NOT_UNTRUSTED,
        "it chooses a file to read, and its insecure-registries turn TLS verification off (credentials follow)",
    ),
    Setting(
        "cache-ttl", "cache_ttl", lambda v, n, _r: _non_negative_int(v, n), Trust.CAPPED,
        "answers outlive the run in the user's cache and are read by other projects' runs",
    ),
    Setting(
        "cache-negative-ttl", "cache_negative_ttl", lambda v, n, _r: _non_negative_int(v, n), Trust.CAPPED,
        "answers outlive the run in the user's cache and are read by other projects' runs",
    ),
    Setting(
        "timeout", "timeout", lambda v, n, _r: _positive_number(v, n), Trust.PROJECT,
        "it bounds only this run's own wait; the CI job's own timeout bounds the run", "--timeout",
    ),
    Setting(
        "concurrency", "concurrency", lambda v, n, _r: _concurrency(v, n), Trust.PROJECT,
        "bounded (1-256): it changes how fast the same requests go, not where or with what", "--concurrency",
    ),
    Setting(
        "deep", "deep", lambda v, n, _r: _bool(v, n), Trust.PROJECT,
        "it only asks the same registries about the same images' blobs (read-only HEAD/GET, bounded by the "
        "timeout)", "--deep",
    ),
    Setting(
        "disk-margin", "disk_margin", lambda v, n, _r: _size(v, n), Trust.PROJECT, _REPORTING, "--disk-margin",
    ),
    Setting(
        "build-contexts", "build_contexts", lambda v, n, _r: _str_map(v, n), Trust.NOT_UNTRUSTED,
        "it replaces the images the checked Dockerfiles name with others the project picks",
        "--build-context", _update,
    ),
    Setting(
        "compose-files", "compose_files", _excludes, Trust.PROJECT,
        "globs inside the paths being checked: it only widens what is read there", None, _append,
    ),
    Setting(
        "engine", "engine", lambda v, n, _r: _engine(v, n), Trust.USER_ONLY,
        "the engine's image store and registry settings decide findings: the machine's owner picks it", "--engine",
    ),
    Setting(
        "allow-env", "allow_env", _env_names, Trust.USER_ONLY,
        "it hands the runner's environment variables to the files being checked", "--allow-env", _append,
    ),
)  # fmt: skip

REGISTRY_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "registries.*.mirrors", "mirrors", lambda v, n, _r: tuple(_url(u, n) for u in _str_list(v, n)),
        Trust.NOT_UNTRUSTED, "it sends the run's docker.io lookups to a host the project picks, whose answers are "
        "taken as the registry's",
    ),
    Setting(
        "registries.*.insecure", "insecure", lambda v, n, _r: _bool(v, n), Trust.NOT_UNTRUSTED,
        "it turns TLS verification off for that host; stored credentials would go to whoever answers",
    ),
    Setting(
        "registries.*.ca-file", "ca_file", lambda v, n, r: _path(v, n, r), Trust.NOT_UNTRUSTED,
        "it chooses a file to read and adds a CA the project controls (lowers TLS trust)",
    ),
    Setting(
        "registries.*.endpoint", "endpoint", lambda v, n, _r: _url(v, n), Trust.NOT_UNTRUSTED,
        "it redirects a registry's traffic to a host the project picks",
    ),
)  # fmt: skip

BY_KEY = {s.key: s for s in SETTINGS}
BY_ATTR = {s.attr: s for s in SETTINGS}
KEYS = tuple(BY_KEY)
REGISTRY_KEYS = tuple(s.key.rpartition(".")[2] for s in REGISTRY_SETTINGS)
_REGISTRY_BY_KEY = dict(zip(REGISTRY_KEYS, REGISTRY_SETTINGS, strict=True))
_RULE_ATTRS = ("select", "extend_select", "ignore", "levels")
# Config fields only the command line sets (no file may).
CLI_ONLY: frozenset[str] = frozenset()


# ----------------------------------------------------------------- public API


def user_config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/preflight/config.yaml``, else ``~/.config/preflight/config.yaml``."""
    base = environ.get("XDG_CONFIG_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / USER_CONFIG
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".config" / USER_CONFIG


def load_config(
    cwd: Path, explicit: Path | None = None, *, untrusted: bool = False, environ: Mapping[str, str] | None = None
) -> Config:
    """The configuration for a run in ``cwd``: defaults, the user's file, then ``explicit`` if given
    (the user's too), else the nearest project file (module docstring). ``untrusted`` drops the project
    file's settings that ``Trust.NOT_UNTRUSTED`` marks; ``Config.warnings`` names every dropped value."""
    cwd = Path(os.path.abspath(cwd))
    environ = os.environ if environ is None else environ
    layers: list[tuple[_Layer, bool]] = []  # (layer, is the project's)
    user = user_config_path(environ)
    if user.is_file():
        layers.append((_layer(user, _Where(user, cwd), project=False, untrusted=untrusted), False))
    if explicit is not None:
        path = Path(os.path.abspath(cwd / explicit))
        where = _Where(path, cwd, table="[tool.preflight]" if path.name == PYPROJECT else "")
        if not path.is_file():
            raise ConfigError(f"{where.file}: config file {'is not a file' if path.exists() else 'not found'}")
        layers.append((_layer(path, where, project=False, untrusted=untrusted), False))
    else:
        found = _find_project(cwd)
        if found is not None:
            layers.append((_build(*found, project=True, untrusted=untrusted), True))
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for layer, project in layers:
        values = _stack(values, layer.values, layer.where if project else None, warnings)
        warnings.extend(layer.warnings)
        values["source"], values["root"] = str(layer.where.path), str(layer.where.path.parent)
    registries = values.pop("registries", {})
    values["registries"] = {host: RegistryConfig(**fields) for host, fields in registries.items()}
    return Config(**values, warnings=tuple(warnings))


def merge_cli(config: Config, **overrides: Any) -> Config:
    """Apply command-line values (named by ``Config`` field) to ``config``; None means "not given".

    Each value is validated by its setting's parser and combined by its ``combine`` (``select``
    replaces and resets the configuration's rule adjustments, as ruff does: ``_stack_rules``;
    lists are appended; ``build_args`` and ``levels`` override name by name; the rest replace).
    ``build_args`` are also kept in ``cli_build_args``: they win over compose ``build.args``.
    Invalid values raise ``ConfigError`` naming the option (``--select``).
    """
    values = {s.attr: getattr(config, s.attr) for s in SETTINGS}
    given: dict[str, Any] = {}
    for attr in CLI_ONLY & overrides.keys():
        if (value := overrides.pop(attr)) is not None:
            values[attr] = value
    for attr, value in overrides.items():
        setting = BY_ATTR.get(attr)
        if setting is None or setting.key == "registries":
            raise TypeError(f"merge_cli() got an unknown option {attr!r}")
        if value is not None:
            given[attr] = cli_value(setting, value)
    rules = {a: given.pop(a) for a in _RULE_ATTRS if a in given}
    if rules:
        values.update(_stack_rules(values, rules, combine=True))
    for attr, value in given.items():
        values[attr] = BY_ATTR[attr].combine(values[attr], value)
    if "build_args" in given:
        values["cli_build_args"] = {**config.cli_build_args, **given["build_args"]}
    return dataclasses.replace(config, **values)


def cli_value(setting: Setting, value: Any) -> Any:
    """A command-line value checked by the setting's own parser (``--select PF9`` names ``--select``);
    list settings take one string or a sequence of strings."""
    if isinstance(setting.default, tuple):
        value = [value] if isinstance(value, str) else list(value)
    return setting.parse(value, setting.option, Path.cwd())


# ----------------------------------------------------------------- layering


def _stack(
    lower: Mapping[str, Any], upper: Mapping[str, Any], project: _Where | None, warnings: list[str]
) -> dict[str, Any]:
    """``upper`` (a file's values) over ``lower``; ``project`` is set when ``upper`` is the project's file."""
    out = dict(lower)
    for attr, value in upper.items():
        setting = BY_ATTR[attr]
        if attr in _RULE_ATTRS:
            continue
        if setting.trust is Trust.CAPPED and project is not None:
            cap = lower.get(attr, setting.default)
            if value > cap:
                warnings.append(
                    f"{project.at(setting.key)}: {value} is above the user's maximum of {cap} s; using {cap} "
                    f"({setting.why}; raise the maximum in {_USER_HINT})"
                )
                value = cap
        if attr == "registries":
            merged = {host: dict(fields) for host, fields in out.get("registries", {}).items()}
            for host, fields in value.items():
                merged.setdefault(host, {}).update(fields)
            value = merged
        elif attr == "build_args":
            value = {**out.get("build_args", {}), **value}
        out[attr] = value
    rules = {a: upper[a] for a in _RULE_ATTRS if a in upper}
    if rules:
        out.update(_stack_rules({a: out.get(a, BY_ATTR[a].default) for a in _RULE_ATTRS}, rules))
    return out


def _stack_rules(lower: Mapping[str, Any], upper: Mapping[str, Any], *, combine: bool = False) -> dict[str, Any]:
    """Rule selection of a higher-precedence source over a lower one, as ruff resolves it: the
    highest-precedence ``select`` is the basis and drops the ``extend-select``, ``ignore`` and levels
    below it (a level is kept only as the severity of a rule the new selection names; ``off`` levels
    were ignores and go); ``extend-select`` then adds, and re-enables rules that a lower ``ignore``
    names by the same or a longer prefix; ``ignore`` removes; levels override rule by rule."""
    select, extend, ignore = lower["select"], lower["extend_select"], lower["ignore"]
    levels: dict[str, Level] = dict(lower["levels"])
    if "select" in upper:
        select = upper["select"]
        chosen = select + upper.get("extend_select", ())
        extend, ignore = (), ()
        levels = {rid: lvl for rid, lvl in levels.items() if lvl is not Level.OFF and _matches(rid, chosen)}
    added = upper.get("extend_select", ())
    ignore = tuple(q for q in ignore if not any(q.startswith(p) for p in added))
    return {
        "select": select,
        "extend_select": _unique(extend + added),
        "ignore": _unique(ignore + upper.get("ignore", ())),
        "levels": {**levels, **upper.get("levels", {})},
    }


def _matches(rule_id: str, patterns: Iterable[str]) -> bool:
    return any(rule_id.startswith(p) for p in patterns)


_USER_HINT = "~/.config/preflight/config.yaml or a file given with --config"


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


@dataclass
class _Layer:
    """One file's validated values (``Config`` field -> value; ``registries`` as host -> field -> value)."""

    where: _Where
    values: dict[str, Any]
    warnings: list[str]


def _find_project(cwd: Path) -> tuple[Mapping[Any, Any], _Where] | None:
    """The settings table of the nearest project file, and where it is."""
    for directory in (cwd, *cwd.parents):
        for name in YAML_NAMES:
            path = directory / name
            if path.is_file():
                where = _Where(path, cwd)
                return _read(path, where, require_table=True) or {}, where
        path = directory / PYPROJECT
        if path.is_file():
            where = _Where(path, cwd, table="[tool.preflight]")
            data = _read(path, where, require_table=False)
            if data is not None:
                return data, where
    return None


def _layer(path: Path, where: _Where, *, project: bool, untrusted: bool) -> _Layer:
    return _build(_read(path, where, require_table=True) or {}, where, project=project, untrusted=untrusted)


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


def _build(data: Mapping[Any, Any], where: _Where, *, project: bool, untrusted: bool) -> _Layer:
    """Validate every key of one file; a project file's untrusted settings are dropped (with a warning)."""
    root = where.path.parent
    values: dict[str, Any] = {}
    warnings: list[str] = []

    def allowed(setting: Setting, name: str) -> bool:
        if not project or setting.trust in (Trust.PROJECT, Trust.CAPPED):
            return True
        if setting.trust is Trust.NOT_UNTRUSTED and not untrusted:
            return True
        mode = "" if setting.trust is Trust.USER_ONLY else " under --untrusted"
        warnings.append(
            f"{name}: ignored{mode}: a project's configuration may not set it ({setting.why}); set it in {_USER_HINT}"
        )
        return False

    for key, value in data.items():
        setting = BY_KEY.get(key) if isinstance(key, str) else None
        if setting is None:
            raise where.unknown(key, data, KEYS)
        name = where.at(key, data, key)
        if key == "registries":
            values["registries"] = _registries(value, name, where, root, allowed)
            continue
        parsed = setting.parse(value, name, root)
        if allowed(setting, name):
            values[setting.attr] = parsed
    return _Layer(where, values, warnings)


def _registries(
    value: Any, name: str, where: _Where, root: Path, allowed: Callable[[Setting, str], bool]
) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of registry host to settings, got {_kind(value)}")
    out: dict[str, dict[str, Any]] = {}
    for host, settings in value.items():
        at_host = where.at(f"registries.{host}", value, host)
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{at_host}: a registry host must be a string (quote it)")
        if not isinstance(settings, dict):
            raise ConfigError(f"{at_host}: expected a mapping, got {_kind(settings)}")
        fields: dict[str, Any] = {}
        for key, item in settings.items():
            setting = _REGISTRY_BY_KEY.get(key) if isinstance(key, str) else None
            if setting is None:
                raise where.unknown(key, settings, REGISTRY_KEYS, f"registries.{host}")
            at = where.at(f"registries.{host}.{key}", settings, key)
            parsed = setting.parse(item, at, root)
            if allowed(setting, at):
                fields[setting.attr] = parsed
        out[host.strip()] = fields
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


_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*\Z", re.IGNORECASE)


def _size(value: Any, name: str) -> int:
    """Bytes: a whole number, or a number with a unit (``500MB``, ``2GiB``, ``1.5G``; kB/MB/GB/TB decimal,
    KiB/MiB/GiB/TiB and a bare K/M/G/T binary, as docker's own size options)."""
    match = _SIZE_RE.match(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(f"{name}: expected a size in bytes such as 2GiB, 500MB or 1073741824, got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    decimal = len(unit) == 2 and unit != "ib"  # kB, MB, GB, TB
    power = "bkmgt".index(unit[0])
    return int(number * (1000**power if decimal else 1024**power))


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
