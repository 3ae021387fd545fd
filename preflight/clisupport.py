"""What the commands of ``cli`` share around their work: usage errors (exit 2), loading the configuration,
checking the paths, ``PREFLIGHT_UNTRUSTED``, where each output format goes and writing it, the progress
line while registries answer, ``--debug`` logging and the exit code. The options themselves are ``cliopts``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from .cliopts import CommandLine
from .config import Config, ConfigError
from .model import Level, Report
from .safetext import visible


class UsageProblem(click.ClickException):
    exit_code = 2


def load_config(cmdline: CommandLine, untrusted: bool = False) -> Config:
    """The user's file, ``--config FILE`` or the project's file, then the command line (``preflight.config``);
    settings dropped or capped on the way are warned about on stderr."""
    try:
        config = cmdline.load(untrusted=untrusted)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    for warning in config.warnings:
        click.echo(f"preflight: warning: {warning}", err=True)
    return config


def require_paths(paths: Sequence[str]) -> None:
    """A path that does not exist is a usage error (exit 2), never a finding: a typo in a CI
    command must not pass with --exit-zero."""
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise UsageProblem(f"path not found: {', '.join(missing)}")


def untrusted_mode(flag: bool) -> bool:
    """``--untrusted``, also turned on by ``PREFLIGHT_UNTRUSTED`` = 1, true or yes (so a CI template
    sets it once); 0, false, no or empty leave it off; any other value is a usage error."""
    from .confine import env_flag

    value = os.environ.get("PREFLIGHT_UNTRUSTED")
    on = env_flag(value)
    if on is None:
        raise UsageProblem(f"PREFLIGHT_UNTRUSTED={value!r}: expected 1, true or yes (or 0, false, no)")
    return flag or on


def resolve_format(fmt: str) -> str:
    if fmt == "auto":
        env = os.environ
        return "github" if env.get("GITHUB_ACTIONS") and env.get("GITHUB_WORKFLOW") else "text"
    return fmt


def write(text: str, output: str | None, color: bool = False) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageProblem(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=not text.endswith("\n"), color=color)


def append(text: str, path: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageProblem(f"cannot write {path}: {exc.strerror or exc}") from None


def output_targets(
    formats: Sequence[str], output: str | None, sarif: str | None, json_file: str | None, gitlab: str | None
) -> list[tuple[str, str | None]]:
    """(format, file or None for stdout) pairs: ``-o`` takes the first ``--format``, each
    ``--output-*`` its own; at most one format may go to stdout (concatenated formats parse as none)."""
    outputs: list[tuple[str, str | None]] = []
    for i, fmt in enumerate(formats or ("text",)):
        outputs.append((resolve_format(fmt), output if i == 0 else None))
    for fmt, target in (("sarif", sarif), ("json", json_file), ("gitlab", gitlab)):
        if target:
            outputs.append((fmt, target))
    to_stdout = [fmt for fmt, target in outputs if target is None]
    if len(to_stdout) > 1:
        raise UsageProblem(
            f"only one format can go to stdout, not {' and '.join(to_stdout)}: write the first with -o FILE,"
            " or the others with --output-sarif/--output-json/--output-gitlab FILE"
        )
    return outputs


def say_if_nothing_found(loaded: object, paths: Sequence[str]) -> None:
    """A run that read nothing says so (exit status unchanged): a wrong path must not look clean."""
    if not getattr(loaded, "documents", ()):
        where = ", ".join(paths) if paths else "."
        click.echo(f"preflight: no Dockerfile or compose file found under {where}", err=True)


def debug_logging() -> None:
    """``--debug``: the ``preflight`` logger at DEBUG on stderr (other libraries' loggers stay quiet)."""
    import logging

    class Visible(logging.Formatter):  # a logged host, path or error text may come from a file or a server
        def format(self, record: logging.LogRecord) -> str:
            return visible(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Visible("preflight: debug: %(message)s"))
    logger = logging.getLogger("preflight")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)


UNCHECKED_RULES = frozenset({"PF208", "PF209"})  # the registry could not be asked: nothing is known


def exit_code(report: Report, config: Config, exit_zero: bool, fail_on_unchecked: bool = True) -> int:
    if exit_zero or config.fail_level is Level.OFF:
        return 0
    threshold = config.fail_level.rank
    counted = (f for f in report.findings if fail_on_unchecked or f.rule not in UNCHECKED_RULES)
    return 1 if any(f.level.rank >= threshold for f in counted) else 0


class Progress:
    """A single status line on stderr while registries answer (terminals only). It counts lookups
    that finished, answered or not; the summary then says how many were answered ("checked")."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, done: int, total: int, slowest: str) -> None:
        tail = f", waiting on {slowest}" if slowest and done < total else ""
        sys.stderr.write(f"\r\x1b[Kpreflight: {done} of {total} registry lookups finished{tail}")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


class LogProgress(Progress):
    """Without a terminal (CI logs): one plain line every ``every`` seconds while lookups are still
    pending, naming the host waited on; nothing at all when the registries answer quickly."""

    def __init__(self, every: float = 4.0) -> None:
        import time

        super().__init__()
        self.clock = time.monotonic
        self.every = every
        self.start = self.last = self.clock()

    def __call__(self, done: int, total: int, slowest: str) -> None:
        now = self.clock()
        if done >= total or now - self.last < self.every:
            return
        self.last = now
        host = f", waiting on {slowest}" if slowest else ""
        click.echo(f"preflight: {done} of {total} registry lookups finished{host} ({now - self.start:.0f} s)", err=True)

    def clear(self) -> None:
        return None
