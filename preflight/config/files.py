"""Reading config files: finding the project's, and a file's settings table with the line of each
key (YAML through ``yamlpos``, the one YAML reader, and ``yamlvalues``; TOML through ``tomllib``).
Neither is imported by a run without a config file of its kind."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, overload

from ..settings import ConfigError, kind

YAML_NAMES = (".preflight.yaml", ".preflight.yml")
PYPROJECT = "pyproject.toml"


class Where:
    """Names a place in a config file for error messages."""

    def __init__(self, path: Path, cwd: Path, table: str = "") -> None:
        from ..discover import display_path

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


def _hint(key: Any, choices: Iterable[str]) -> str:
    import difflib  # only for the message of an unknown key

    text = str(key)
    close = difflib.get_close_matches(text.replace("_", "-"), list(choices), n=1)
    if not close:
        return f" {text!r}"
    note = " keys are kebab-case" if "_" in text else ""
    return f" {text!r} (did you mean {close[0]!r}?{note})"


def find_project(cwd: Path) -> tuple[Mapping[Any, Any], Where] | None:
    """The settings table of the nearest project file, and where it is."""
    for directory in (cwd, *cwd.parents):
        for name in YAML_NAMES:
            path = directory / name
            if path.is_file():
                where = Where(path, cwd)
                return read(path, where, require_table=True), where
        path = directory / PYPROJECT
        if path.is_file():
            where = Where(path, cwd, table="[tool.preflight]")
            data = read(path, where, require_table=False)
            if data is not None:
                return data, where
    return None


@overload
def read(path: Path, where: Where, require_table: Literal[True]) -> Mapping[Any, Any]: ...


@overload
def read(path: Path, where: Where, require_table: bool) -> Mapping[Any, Any] | None: ...


def read(path: Path, where: Where, require_table: bool) -> Mapping[Any, Any] | None:
    """The settings table of a config file; None for a pyproject.toml without one (when allowed)."""
    from ..textfile import InputError, read_text

    try:
        text = read_text(path)
    except InputError as exc:
        raise ConfigError(f"{where.file}:{exc.line}: cannot read config file: {exc.message}") from None
    if path.suffix == ".toml":
        return _read_toml(text, path, where, require_table)
    from .. import yamlpos
    from .yamlvalues import Plain

    loaded = yamlpos.load(text)  # its limits (nesting, alias expansion) hold for config files too
    fatal = next((issue for issue in loaded.issues if issue.fatal), None)
    if fatal is not None:
        raise ConfigError(f"{where.file}:{fatal.line}: {fatal.message}")
    if len(loaded.documents) > 1:
        second = loaded.documents[1].line
        raise ConfigError(f"{where.file}:{second}: invalid YAML: expected a single document in the stream")
    data = Plain(where).value(loaded.documents[0]) if loaded.documents else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where.file}: expected a mapping of settings, got {kind(data)}")
    return data


def _read_toml(text: str, path: Path, where: Where, require_table: bool) -> Mapping[Any, Any] | None:
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
        raise ConfigError(f"{where.file}: [tool.preflight] must be a table, got {kind(table)}")
    return table
