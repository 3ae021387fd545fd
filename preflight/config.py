"""Configuration: CLI options > ``.preflight.yaml`` | ``[tool.preflight]`` in pyproject.toml > defaults.

(The loader is being written; the ``Config`` shape below is the contract other modules use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

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
    source: str | None = None  # file the configuration came from, for messages
    root: str | None = None  # directory of that file (project root), absolute
