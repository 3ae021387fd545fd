"""The configuration a run uses: ``Config`` and its per-registry part, ``RegistryConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Level
from ..settings import RULE_OPTIONS, Setting


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
    # The options rules declare (rulebook.Rule.options), by key, as set (unset: the option's default):
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    # Not settings (no key in any file):
    cli_build_args: Mapping[str, str] = field(default_factory=dict)  # --build-arg: wins over compose build.args
    source: str | None = None  # file the configuration came from (the project's, else the user's), for messages
    root: str | None = None  # directory of that file, absolute
    warnings: tuple[str, ...] = ()  # settings dropped or capped while loading, for the user

    def value(self, setting: Setting[Any]) -> Any:
        """The value of a (run-wide or rule) setting in this configuration."""
        if setting.attr == RULE_OPTIONS:
            return self.rule_options.get(setting.key, setting.default)
        return getattr(self, setting.attr)
