"""Helpers shared by the test modules (``from conftest import write``) and the test markers.

Markers (registered in pyproject.toml): ``registry`` for every test under ``tests/registry/`` (real
Distribution registries, token servers, fault proxies), ``slow`` for tests that build, install or run
external tools. ``pytest -m "not registry and not slow"`` is the fast loop while editing.
"""

from __future__ import annotations

from pathlib import Path


def write(base: Path, files: dict[str, str]) -> None:
    """Write each ``{relative name: text}`` under ``base`` as UTF-8, creating directories."""
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
