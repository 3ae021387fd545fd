"""The command-line options commands share, declared once.

``settings_options(*keys)`` adds ``--config`` and the ``Flag`` of each named setting (``config.SETTINGS``
and the rules' own options, ``config.table``): the command receives them as one ``CommandLine`` value
(``cmdline``), which ``CommandLine.load`` turns into the run's ``Config``. A setting with a flag is thus
a row in the table and one key in a command's list in ``cli.py`` (``check`` takes every rule option
that has a flag by itself), nothing else. The other shared options
(the paths, ``--untrusted``, registry access, ``--debug``, ``check``'s outputs) are plain click decorators.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .settings import RULE_OPTIONS, Flag, Setting

if TYPE_CHECKING:
    from .config import Config

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommandLine:
    """What the command line said about settings: ``--config FILE`` and each flag's value as click read it."""

    config_file: str | None = None
    raw: Mapping[Setting[Any], Any] = field(default_factory=dict)

    def overrides(self) -> dict[str, Any]:
        """``merge_cli``'s keyword arguments (None: not given); a malformed value raises ``ConfigError``."""
        return {_name(s): _read(s.flag, value) for s, value in self.raw.items() if s.flag is not None}

    def load(self, *, untrusted: bool = False) -> Config:
        """The run's ``Config``: files (``config.load_config``), then these values (``config.merge_cli``)."""
        from .config import load_config, merge_cli

        overrides = self.overrides()  # the command line's own mistakes first, as before any file is read
        config = load_config(Path.cwd(), Path(self.config_file) if self.config_file else None, untrusted=untrusted)
        return merge_cli(config, **overrides)


def _read(flag: Flag, value: Any) -> Any:
    if flag.read is not None:
        return flag.read(value)
    if flag.shape == "list":
        return tuple(value) or None
    return value


def _name(setting: Setting[Any]) -> str:
    """``merge_cli``'s keyword for a setting: its ``Config`` field, or a rule's option's key."""
    return setting.key if setting.attr == RULE_OPTIONS else setting.attr


def _param(setting: Setting[Any]) -> str:
    return "setting_" + setting.key.replace("-", "_")


def _click_option(setting: Setting[Any]) -> Callable[[F], F]:
    flag = setting.flag
    assert flag is not None
    extra: dict[str, Any] = {}
    if flag.shape == "list":
        extra["multiple"] = True
    elif flag.shape == "switch":
        extra.update(is_flag=True, default=None)
    elif isinstance(flag.shape, tuple):
        extra["type"] = click.Choice(flag.shape)
    elif flag.shape in (int, float):
        extra["type"] = flag.shape
    return click.option(flag.name, _param(setting), metavar=flag.metavar, help=flag.help, **extra)


def settings_options(*keys: str) -> Callable[[F], F]:
    """``--config`` and the flags of the settings ``keys`` (in that order in ``--help``), given to the
    command as ``cmdline: CommandLine``."""
    from .config import flagged

    chosen = [flagged(key) for key in keys]

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            raw = {s: kwargs.pop(_param(s)) for s in chosen}
            cmdline = CommandLine(kwargs.pop("config_file"), raw)
            return fn(**kwargs, cmdline=cmdline)

        for setting in reversed(chosen):
            command = _click_option(setting)(command)
        return config_option(command)  # type: ignore[return-value]

    return decorate


# readable=False: an unreadable file or directory is a PF001 finding at it (as when found in a
# directory), not a usage error; only a path that does not exist is one (clisupport.require_paths).
common_paths = click.argument("paths", nargs=-1, type=click.Path(readable=False))
FORMAT_CHOICES = ("auto", "text", "json", "sarif", "github", "gitlab")

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(),
    help="Configuration file (default: .preflight.yaml or pyproject.toml, searched upward).",
)
untrusted_option = click.option(
    "--untrusted",
    is_flag=True,
    help="Input from strangers (pull requests): no environment in interpolation, no file outside the project,"
    " no private or loopback registry host unless allowed (also PREFLIGHT_UNTRUSTED=1).",
)
no_credentials_option = click.option("--no-credentials", is_flag=True, help="Never use stored registry credentials.")
debug_option = click.option(
    "--debug",
    is_flag=True,
    help="Log registry and engine requests, retries and fallbacks to stderr (never credentials).",
)


def registry_options(fn: F) -> F:
    """How registries are asked: ``--no-cache``, ``--no-credentials``, ``--allow-host``, ``--strict-loopback``."""
    for option in reversed(
        (
            click.option("--no-cache", is_flag=True, help="Do not read or write the registry facts cache."),
            no_credentials_option,
            click.option(
                "--allow-host",
                "allow_hosts",
                multiple=True,
                help="Registry host the address guard lets through (exact name, repeatable).",
            ),
            click.option(
                "--strict-loopback", is_flag=True, hidden=True, help="Verify TLS for loopback registries too."
            ),
        )
    ):
        fn = option(fn)
    return fn


def output_options(fn: F) -> F:
    """Where ``check``'s report goes: ``--format`` (repeatable), ``--output``, ``--output-sarif``/``-json``/``-gitlab``."""
    for option in reversed(
        (
            click.option(
                "--format",
                "-f",
                "formats",
                multiple=True,
                type=click.Choice(FORMAT_CHOICES),
                help="Output format (default text); repeat it to write more, one to stdout and the others to files"
                " with -o.",
            ),
            click.option(
                "--output",
                "-o",
                metavar="FILE",
                help="Write the (first) format to FILE instead of stdout; the summary goes to stderr.",
            ),
            click.option("--output-sarif", metavar="FILE", help="Also write a SARIF report to FILE."),
            click.option("--output-json", metavar="FILE", help="Also write a JSON report to FILE."),
            click.option("--output-gitlab", metavar="FILE", help="Also write a GitLab code quality report to FILE."),
        )
    ):
        fn = option(fn)
    return fn
