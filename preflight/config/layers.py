"""From files to one set of values: each file's table validated into a ``Layer`` (keyed by setting key),
the project's untrusted settings dropped, and layers stacked (later wins, key by key; rule selection
as ruff resolves it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Level
from ..settings import ConfigError, Setting, Trust, kind, unique
from .files import Where
from .table import BY_KEY, KEYS, REGISTRY_BY_KEY, REGISTRY_KEYS, SELECTION

USER_HINT = "~/.config/preflight/config.yaml or a file given with --config"


@dataclass
class Layer:
    """One file's validated values (setting key -> value; ``registries`` as host -> field -> value)."""

    where: Where
    values: dict[str, Any]
    warnings: list[str]


def build(data: Mapping[Any, Any], where: Where, *, project: bool, untrusted: bool) -> Layer:
    """Validate every key of one file; a project file's untrusted settings are dropped (with a warning)."""
    root = where.path.parent
    values: dict[str, Any] = {}
    warnings: list[str] = []

    def allowed(setting: Setting[Any], name: str) -> bool:
        if not project or setting.trust in (Trust.PROJECT, Trust.CAPPED):
            return True
        if setting.trust is Trust.NOT_UNTRUSTED and not untrusted:
            return True
        mode = "" if setting.trust is Trust.USER_ONLY else " under --untrusted"
        warnings.append(
            f"{name}: ignored{mode}: a project's configuration may not set it ({setting.why}); set it in {USER_HINT}"
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
            values[key] = parsed
    return Layer(where, values, warnings)


def _registries(
    value: Any, name: str, where: Where, root: Path, allowed: Callable[[Setting[Any], str], bool]
) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of registry host to settings, got {kind(value)}")
    out: dict[str, dict[str, Any]] = {}
    for host, settings in value.items():
        at_host = where.at(f"registries.{host}", value, host)
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{at_host}: a registry host must be a string (quote it)")
        if not isinstance(settings, dict):
            raise ConfigError(f"{at_host}: expected a mapping, got {kind(settings)}")
        fields: dict[str, Any] = {}
        for key, item in settings.items():
            setting = REGISTRY_BY_KEY.get(key) if isinstance(key, str) else None
            if setting is None:
                raise where.unknown(key, settings, REGISTRY_KEYS, f"registries.{host}")
            at = where.at(f"registries.{host}.{key}", settings, key)
            parsed = setting.parse(item, at, root)
            if allowed(setting, at):
                fields[setting.attr] = parsed
        out[host.strip()] = fields
    return out


def stack(
    lower: Mapping[str, Any], upper: Mapping[str, Any], project: Where | None, warnings: list[str]
) -> dict[str, Any]:
    """``upper`` (a file's values) over ``lower``; ``project`` is set when ``upper`` is the project's file."""
    out = dict(lower)
    for key, value in upper.items():
        setting = BY_KEY[key]
        if key in SELECTION:
            continue
        if setting.trust is Trust.CAPPED and project is not None:
            cap = lower.get(key, setting.default)
            if value > cap:
                warnings.append(
                    f"{project.at(key)}: {value} is above the user's maximum of {cap} s; using {cap} "
                    f"({setting.why}; raise the maximum in {USER_HINT})"
                )
                value = cap
        if key == "registries":
            merged = {host: dict(fields) for host, fields in out.get("registries", {}).items()}
            for host, fields in value.items():
                merged.setdefault(host, {}).update(fields)
            value = merged
        elif key == "build-args":
            value = {**out.get("build-args", {}), **value}
        out[key] = value
    rules = {k: upper[k] for k in SELECTION if k in upper}
    if rules:
        out.update(stack_rules({k: out.get(k, BY_KEY[k].default) for k in SELECTION}, rules))
    return out


def stack_rules(lower: Mapping[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """Rule selection of a higher-precedence source over a lower one, as ruff resolves it: the
    highest-precedence ``select`` is the basis and drops the ``extend-select``, ``ignore`` and levels
    below it (a level is kept only as the severity of a rule the new selection names; ``off`` levels
    were ignores and go); ``extend-select`` then adds, and re-enables rules that a lower ``ignore``
    names by the same or a longer prefix; ``ignore`` removes; levels override rule by rule."""
    select, extend, ignore = lower["select"], lower["extend-select"], lower["ignore"]
    levels: dict[str, Level] = dict(lower["rules"])
    if "select" in upper:
        select = upper["select"]
        chosen = select + upper.get("extend-select", ())
        extend, ignore = (), ()
        levels = {rid: lvl for rid, lvl in levels.items() if lvl is not Level.OFF and _matches(rid, chosen)}
    added = upper.get("extend-select", ())
    ignore = tuple(q for q in ignore if not any(q.startswith(p) for p in added))
    return {
        "select": select,
        "extend-select": unique(extend + added),
        "ignore": unique(ignore + upper.get("ignore", ())),
        "rules": {**levels, **upper.get("rules", {})},
    }


def _matches(rule_id: str, patterns: Iterable[str]) -> bool:
    return any(rule_id.startswith(p) for p in patterns)
