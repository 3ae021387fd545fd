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
source below it; ``extend-select``/``ignore`` then add on top (``layers.stack_rules``).

The modules: ``table`` (the one table of settings: ``SETTINGS``, ``REGISTRY_SETTINGS``; the rules'
own options join it from ``rulebook``), ``parse`` (the run-wide settings' parsers and flag readers),
``files`` (finding and reading files), ``layers`` (validating a file, trust, stacking), ``values``
(``Config``). The command line's flags come from the same rows (``preflight.cliopts``).

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
    trusted-registries: [ghcr.io, "*.example.com"]   # an option of rule PF104 (rules/offline.py)
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
    disk-margin: 2GiB             # an option of rule PF214 (rules/deep.py): free space a pull must leave
                                  # on the engine's data root, bytes or 500MB, 2GiB
    allow-env: [REGISTRY_HOST]    # user's file only: variables interpolation may read under --untrusted

Unknown keys, wrong types, unknown rule IDs and unreadable or malformed files raise
``ConfigError`` naming the file (with the line for YAML) and the key. YAML 1.1 reads a bare
``off`` as false; in ``rules:`` that means ``off``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..settings import RULE_OPTIONS, ConfigError, Setting, Trust
from .files import PYPROJECT, Where, find_project, read
from .layers import Layer, build, stack, stack_rules
from .parse import FAIL_LEVELS
from .table import (
    BY_ATTR,
    BY_KEY,
    KEYS,
    REGISTRY_SETTINGS,
    RULE_SETTINGS,
    RUN_SETTINGS,
    SELECTION,
    SETTINGS,
    flagged,
    rule_flags,
)
from .values import Config, RegistryConfig

__all__ = [
    "FAIL_LEVELS", "KEYS", "REGISTRY_SETTINGS", "RULE_SETTINGS", "SETTINGS", "Config", "ConfigError",
    "RegistryConfig", "Setting", "Trust", "cli_value", "flagged", "load_config", "merge_cli", "rule_flags",
    "user_config_path",
]  # fmt: skip

USER_CONFIG = Path("preflight") / "config.yaml"  # under $XDG_CONFIG_HOME (~/.config)


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
    layers: list[tuple[Layer, bool]] = []  # (layer, is the project's)
    user = user_config_path(environ)
    if user.is_file():
        where = Where(user, cwd)
        layers.append((build(read(user, where, True), where, project=False, untrusted=untrusted), False))
    if explicit is not None:
        path = Path(os.path.abspath(cwd / explicit))
        where = Where(path, cwd, table="[tool.preflight]" if path.name == PYPROJECT else "")
        if not path.is_file():
            raise ConfigError(f"{where.file}: config file {'is not a file' if path.exists() else 'not found'}")
        layers.append((build(read(path, where, True), where, project=False, untrusted=untrusted), False))
    else:
        found = find_project(cwd)
        if found is not None:
            layers.append((build(*found, project=True, untrusted=untrusted), True))
    values: dict[str, Any] = {}
    warnings: list[str] = []
    source: Path | None = None
    for layer, project in layers:
        values = stack(values, layer.values, layer.where if project else None, warnings)
        warnings.extend(layer.warnings)
        source = layer.where.path
    registries = values.pop("registries", {})
    values["registries"] = {host: RegistryConfig(**fields) for host, fields in registries.items()}
    return Config(
        **_fields(values),
        source=str(source) if source else None,
        root=str(source.parent) if source else None,
        warnings=tuple(warnings),
    )


def merge_cli(config: Config, **overrides: Any) -> Config:
    """Apply command-line values to ``config``, named by ``Config`` field (a rule's option: by its key);
    None means "not given".

    Each value is validated by its setting's parser and combined by its ``combine`` (``select``
    replaces and resets the configuration's rule adjustments, as ruff does: ``layers.stack_rules``;
    lists are appended; ``build_args`` and ``levels`` override name by name; the rest replace).
    ``build_args`` are also kept in ``cli_build_args``: they win over compose ``build.args``.
    Invalid values raise ``ConfigError`` naming the option (``--select``).
    """
    values = {s.key: getattr(config, s.attr) for s in RUN_SETTINGS} | dict(config.rule_options)
    given: dict[str, Any] = {}
    for name, value in overrides.items():
        setting = BY_ATTR.get(name) or next((s for s in RULE_SETTINGS if s.key == name), None)
        if setting is None or setting.key == "registries":
            raise TypeError(f"merge_cli() got an unknown option {name!r}")
        if value is not None:
            given[setting.key] = cli_value(setting, value)
    selection = {k: given.pop(k) for k in SELECTION if k in given}
    if selection:
        values.update(stack_rules(values, selection))
    for key, value in given.items():
        setting = BY_KEY[key]
        values[key] = setting.combine(values.get(key, setting.default), value)
    fields = _fields(values)
    if "build-args" in given:
        fields["cli_build_args"] = {**config.cli_build_args, **given["build-args"]}
    return dataclasses.replace(config, **fields)


def cli_value(setting: Setting[Any], value: Any) -> Any:
    """A command-line value checked by the setting's own parser (``--select PF9`` names ``--select``);
    list settings take one string or a sequence of strings."""
    if isinstance(setting.default, tuple):
        value = [value] if isinstance(value, str) else list(value)
    return setting.parse(value, setting.option, Path.cwd())


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """``Config`` keyword arguments from values by setting key (the rules' options into ``rule_options``)."""
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in values.items():
        setting = BY_KEY[key]
        if setting.attr == RULE_OPTIONS:
            options[key] = value
        else:
            fields[setting.attr] = value
    return {**fields, "rule_options": options}
