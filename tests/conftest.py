"""Helpers shared by the test modules (``from conftest import write``) and the test markers.

Markers (registered in pyproject.toml): ``registry`` for every test under ``tests/registry/`` (real
Distribution registries, token servers, fault proxies), ``slow`` for tests that build, install or run
external tools. ``pytest -m "not registry and not slow"`` is the fast loop while editing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REGISTRY_TESTS = Path(__file__).parent / "registry"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/registry/ needs real registry processes: mark it ``registry``."""
    for item in items:
        if REGISTRY_TESTS in item.path.parents:
            item.add_marker(pytest.mark.registry)


def write(base: Path, files: dict[str, str]) -> None:
    """Write each ``{relative name: text}`` under ``base`` as UTF-8, creating directories."""
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_machine_engine(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see only the container engines they start: not this machine's default Docker or Podman
    socket, and not a DOCKER_HOST or docker context from the developer's shell."""
    from preflight.localengine import discover

    nowhere = str(tmp_path_factory.getbasetemp() / "no-engine.sock")
    monkeypatch.setattr(discover, "DEFAULT_SOCKET", nowhere)
    monkeypatch.setattr(discover, "PODMAN_ROOT_SOCKET", nowhere)
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The developer's own ``~/.config/preflight/config.yaml`` (the user's config file) never reaches a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "no-user-config"))
