"""The one table of settings: every key a config file (``.preflight.yaml``, ``[tool.preflight]``, the
user's file) may hold, with its parser, its ``Trust`` and its command-line ``Flag``.

``SETTINGS`` holds the run-wide rows (each a ``Config`` field) and then the options the rules declare
beside their checks (``rulebook.rule_settings``, stored in ``Config.rule_options``): adding a rule's
option touches no file here. ``REGISTRY_SETTINGS`` are the keys of one ``registries:`` entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..rulebook import rule_settings
from ..settings import (
    RULE_OPTIONS,
    Flag,
    Parse,
    Setting,
    Trust,
    append,
    boolean,
    path,
    positive_seconds,
    replace,
    seconds,
    str_map,
    update,
    url,
)
from . import parse as p
from .values import Config, RegistryConfig


def _row(
    key: str,
    attr: str,
    parse: Parse[Any],
    trust: Trust,
    why: str,
    flag: Flag | None = None,
    combine: Callable[[Any, Any], Any] = replace,
) -> Setting[Any]:
    """A setting stored in a ``Config`` (or ``RegistryConfig``) field, whose default is the field's."""
    owner = RegistryConfig if key.startswith("registries.") else Config
    spec = owner.__dataclass_fields__[attr]
    factory = spec.default_factory
    default = factory() if factory is not dataclasses.MISSING else spec.default
    return Setting(key, parse, trust, why, flag, combine, default, attr)  # fmt: skip


_REPORTING = "it only decides what is reported"
_CACHE = "answers outlive the run in the user's cache and are read by other projects' runs"
RUN_SETTINGS: tuple[Setting[Any], ...] = (
    _row("select", "select", p.rule_list, Trust.PROJECT, _REPORTING,
         Flag("--select", "Rule IDs or prefixes to run (comma-separated, repeatable).", "list",
              read=p.rule_ids_flag)),
    _row("extend-select", "extend_select", p.rule_list, Trust.PROJECT, _REPORTING,
         Flag("--extend-select", "Rule IDs or prefixes to run on top of the selection, e.g. PF103.", "list",
              read=p.rule_ids_flag), append),
    _row("ignore", "ignore", p.rule_list, Trust.PROJECT, _REPORTING,
         Flag("--ignore", "Rule IDs or prefixes to skip (comma-separated, repeatable).", "list",
              read=p.rule_ids_flag), append),
    _row("rules", "levels", p.levels, Trust.PROJECT, _REPORTING, None, update),
    _row("build-args", "build_args", str_map, Trust.PROJECT,
         "values for the project's own Dockerfiles, which may name any image anyway; the address guard still applies",
         Flag("--build-arg", "KEY=VALUE for Dockerfile ARGs (repeatable).", "list", read=p.build_args_flag),
         update),
    _row("exclude", "exclude", p.excludes, Trust.PROJECT, "it only narrows what is read",
         Flag("--exclude", "Glob of paths to skip (repeatable).", "list"), append),
    _row("fail-level", "fail_level", p.fail_level, Trust.PROJECT, _REPORTING,
         Flag("--fail-level", "Lowest level that makes the exit status 1 (default warning).",
              tuple(p.FAIL_LEVELS), read=p.fail_level_flag)),
    _row("offline", "offline", boolean, Trust.PROJECT, "it only removes network use",
         Flag("--offline", "Never use the network: offline rules only.", "switch")),
    _row("platforms", "platforms", p.platform_list, Trust.PROJECT, _REPORTING,
         Flag("--platform", "Platform every image must provide, e.g. linux/arm64 (repeatable).", "list"), append),
    _row("registries", "registries", lambda v, n, r: v, Trust.PROJECT,
         "a container: each of its keys declares its own trust (REGISTRY_SETTINGS)"),
    _row("daemon-json", "daemon_json", path, Trust.NOT_UNTRUSTED,
         "it chooses a file to read, and its insecure-registries turn TLS verification off (credentials follow)"),
    _row("cache-ttl", "cache_ttl", seconds, Trust.CAPPED, _CACHE),
    _row("cache-negative-ttl", "cache_negative_ttl", seconds, Trust.CAPPED, _CACHE),
    _row("timeout", "timeout", positive_seconds, Trust.PROJECT,
         "it bounds only this run's own wait; the CI job's own timeout bounds the run",
         Flag("--timeout", "Overall deadline for registry lookups (default: 30, or timeout: in the configuration).",
              float, metavar="SECONDS")),
    _row("concurrency", "concurrency", p.concurrency, Trust.PROJECT,
         "bounded (1-256): it changes how fast the same requests go, not where or with what",
         Flag("--concurrency", "Registry requests in flight per host (default 32).", int)),
    _row("deep", "deep", boolean, Trust.PROJECT,
         "it only asks the same registries about the same images' blobs (read-only HEAD/GET, bounded by the timeout)",
         Flag("--deep", "Also check every manifest, config and layer blob of each image (PF213) and report download"
              " sizes (images: with --format json).", "switch")),
    _row("build-contexts", "build_contexts", str_map, Trust.NOT_UNTRUSTED,
         "it replaces the images the checked Dockerfiles name with others the project picks",
         Flag("--build-context", "A named build context, as docker buildx build takes it (repeatable): FROM NAME"
              " then means VALUE.", "list", metavar="NAME=VALUE", read=p.build_contexts_flag), update),
    _row("compose-files", "compose_files", p.excludes, Trust.PROJECT,
         "globs inside the paths being checked: it only widens what is read there", None, append),
    _row("engine", "engine", p.engine, Trust.USER_ONLY,
         "the engine's image store and registry settings decide findings: the machine's owner picks it",
         Flag("--engine", "Container engine to ask for local images (unix:///PATH, tcp://HOST:PORT) or off (default:"
              " as the docker CLI finds it: DOCKER_HOST, context, default socket).", metavar="URL|off",
              read=p.engine_flag)),
    _row("allow-env", "allow_env", p.env_names, Trust.USER_ONLY,
         "it hands the runner's environment variables to the files being checked",
         Flag("--allow-env", "With --untrusted: environment variable compose interpolation may read (repeatable).",
              "list", metavar="NAME"), append),
)  # fmt: skip

RULE_SETTINGS = rule_settings()
SETTINGS: tuple[Setting[Any], ...] = RUN_SETTINGS + RULE_SETTINGS

REGISTRY_SETTINGS: tuple[Setting[Any], ...] = (
    _row("registries.*.mirrors", "mirrors", p.registry_urls, Trust.NOT_UNTRUSTED,
         "it sends the run's docker.io lookups to a host the project picks, whose answers are taken as the registry's"),
    _row("registries.*.insecure", "insecure", boolean, Trust.NOT_UNTRUSTED,
         "it turns TLS verification off for that host; stored credentials would go to whoever answers"),
    _row("registries.*.ca-file", "ca_file", path, Trust.NOT_UNTRUSTED,
         "it chooses a file to read and adds a CA the project controls (lowers TLS trust)"),
    _row("registries.*.endpoint", "endpoint", lambda v, n, _r: url(v, n), Trust.NOT_UNTRUSTED,
         "it redirects a registry's traffic to a host the project picks"),
)  # fmt: skip

BY_KEY = {s.key: s for s in SETTINGS}
KEYS = tuple(BY_KEY)
BY_ATTR = {s.attr: s for s in RUN_SETTINGS}  # merge_cli's keyword names (a rule's option: its key)
REGISTRY_KEYS = tuple(s.key.rpartition(".")[2] for s in REGISTRY_SETTINGS)
REGISTRY_BY_KEY = dict(zip(REGISTRY_KEYS, REGISTRY_SETTINGS, strict=True))
SELECTION = ("select", "extend-select", "ignore", "rules")  # layered together, as ruff does (layers.stack_rules)

if len(BY_KEY) != len(SETTINGS) or any(s.attr != RULE_OPTIONS for s in RULE_SETTINGS):
    raise RuntimeError("a rule's option must be a key of its own, stored in Config.rule_options")


def flagged(key: str) -> Setting[Any]:
    """The setting ``key``, which has a command-line flag (``cliopts.settings_options``)."""
    setting = BY_KEY[key]
    if setting.flag is None:
        raise KeyError(f"setting {key!r} has no command-line flag")
    return setting


def rule_flags() -> tuple[str, ...]:
    """The keys of the rules' options that have a command-line flag (``check`` takes them all)."""
    return tuple(s.key for s in RULE_SETTINGS if s.flag is not None)
