"""Who may set what: every key of the settings table declares whether a project's config file may set
it, and this module walks EVERY key (issue 8.3), so a key added without a trust decision fails here.

The user's own files (``$XDG_CONFIG_HOME/preflight/config.yaml``, ``--config FILE``) are trusted. A
project's ``.preflight.yaml`` / ``[tool.preflight]`` may not, under ``--untrusted``, set anything that
lowers transport trust, redirects traffic or chooses a file; never ``allow-env``; and its cache
lifetimes never exceed the user's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from preflight.config import (
    REGISTRY_SETTINGS,
    SETTINGS,
    Config,
    RegistryConfig,
    Setting,
    Trust,
    load_config,
    user_config_path,
)
from preflight.model import Level

HOST = "registry.example.com"

# A value for every key that differs from the default (the walk fails on a key missing here).
SAMPLES: dict[str, Any] = {
    "select": ["PF2"],
    "extend-select": ["PF103"],
    "ignore": ["PF101"],
    "rules": {"PF102": "error"},
    "trusted-registries": ["ghcr.io"],
    "build-args": {"A": "1"},
    "exclude": ["vendor/**"],
    "fail-level": "error",
    "offline": True,
    "platforms": ["linux/arm64"],
    "registries": {HOST: {"insecure": True}},
    "daemon-json": "daemon.json",
    "cache-ttl": 2_000_000_000,
    "cache-negative-ttl": 2_000_000_000,
    "timeout": 5,
    "concurrency": 8,
    "deep": True,
    "disk-margin": "1GB",
    "allow-env": ["CI_SECRET_TOKEN"],
    "build-contexts": {"base": "docker-image://alpine:3.19"},
    "compose-files": ["deploy/*.yml"],
    "engine": "unix:///tmp/other-engine.sock",
    "registries.*.mirrors": ["https://mirror.example"],
    "registries.*.insecure": True,
    "registries.*.ca-file": "ca.pem",
    "registries.*.endpoint": "https://evil.example",
}
NOT_SETTINGS = {"cli_build_args", "source", "root", "warnings"}  # Config fields no file can set
EVERY = [*SETTINGS, *REGISTRY_SETTINGS]


def as_file(setting: Setting) -> dict[str, Any]:
    if setting.key.startswith("registries.*."):
        return {"registries": {HOST: {setting.key.rpartition(".")[2]: SAMPLES[setting.key]}}}
    return {setting.key: SAMPLES[setting.key]}


def value_of(config: Config, setting: Setting) -> Any:
    if setting.key.startswith("registries.*."):
        return getattr(config.registries.get(HOST, RegistryConfig()), setting.attr)
    return config.value(setting)  # a rule's option: from Config.rule_options


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}


def test_every_config_field_is_a_setting_with_a_reason() -> None:
    """A new Config or RegistryConfig field without a row in the table (and thus a trust) fails."""
    assert {f.name for f in dataclasses.fields(Config)} - NOT_SETTINGS == {s.attr for s in SETTINGS}
    assert {f.name for f in dataclasses.fields(RegistryConfig)} == {s.attr for s in REGISTRY_SETTINGS}
    for setting in EVERY:
        assert isinstance(setting.trust, Trust) and len(setting.why) > 15, setting.key
        assert setting.key in SAMPLES, f"{setting.key}: add a sample value above so the walk covers it"
    assert len({s.key for s in EVERY}) == len(EVERY)


@pytest.mark.parametrize("setting", [s for s in EVERY if s.key != "registries"], ids=lambda s: s.key)
@pytest.mark.parametrize("untrusted", [False, True], ids=["trusted-mode", "untrusted-mode"])
def test_walk_every_key_from_the_project_and_from_the_user(setting: Setting, untrusted: bool, tmp_path: Path) -> None:
    env = env_for(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".preflight.yaml").write_text(json.dumps(as_file(setting)))

    config = load_config(repo, untrusted=untrusted, environ=env)
    applied = value_of(config, setting) != setting.default
    expected = {
        Trust.PROJECT: True,
        Trust.NOT_UNTRUSTED: not untrusted,
        Trust.USER_ONLY: False,
        Trust.CAPPED: False,  # the sample is above the user's (default) maximum
    }[setting.trust]
    assert applied == expected, f"{setting.key} from the project, untrusted={untrusted}"
    named = [w for w in config.warnings if setting.key.rpartition(".")[2] in w]
    assert bool(named) == (not applied), config.warnings
    if setting.trust is Trust.CAPPED:
        assert value_of(config, setting) == setting.default

    # A value that chooses a file or names a URL (traffic) may never come from a project unchecked.
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps(as_file(setting)))
    (repo / ".preflight.yaml").write_text("{}\n")
    mine = value_of(load_config(repo, untrusted=untrusted, environ=env), setting)
    assert mine != setting.default, f"{setting.key} from the user's own file is always applied"
    if str(user.parent) in repr(mine) or "://" in repr(mine):
        assert setting.trust is Trust.NOT_UNTRUSTED or setting.trust is Trust.USER_ONLY, setting.key

    # A file the user names with --config is the user's, even inside the repository.
    user.unlink()
    (repo / "ci.yaml").write_text(json.dumps(as_file(setting)))
    explicit = load_config(repo, Path("ci.yaml"), untrusted=untrusted, environ=env)
    assert value_of(explicit, setting) != setting.default and explicit.warnings == ()


def test_the_users_settings_survive_when_the_projects_are_dropped(tmp_path: Path) -> None:
    """Dropping a project's registries entry keeps the user's own entry for the same host."""
    env = env_for(tmp_path)
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text(f"registries: {{{HOST}: {{ca-file: /etc/ssl/corp-ca.pem}}}}\ncache-ttl: 7200\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".preflight.yaml").write_text(
        f"registries: {{{HOST}: {{insecure: true, ca-file: evil.pem}}, ghcr.io: {{endpoint: 'https://evil.example'}}}}\n"
        "cache-ttl: 5000\ncache-negative-ttl: 10\ndaemon-json: daemon.json\n"
    )
    config = load_config(repo, untrusted=True, environ=env)
    assert config.registries == {HOST: RegistryConfig(ca_file="/etc/ssl/corp-ca.pem"), "ghcr.io": RegistryConfig()}
    assert (config.cache_ttl, config.cache_negative_ttl, config.daemon_json) == (5000, 10, None)
    assert config.source == str(repo / ".preflight.yaml")
    dropped = sorted(w.split(": ")[1] for w in config.warnings)
    assert dropped == ["daemon-json", "registries.ghcr.io.endpoint", f"registries.{HOST}.ca-file",
                       f"registries.{HOST}.insecure"]  # fmt: skip
    trusted = load_config(repo, environ=env)
    assert trusted.registries[HOST] == RegistryConfig(insecure=True, ca_file=str(repo / "evil.pem"))


def test_project_cache_lifetimes_are_capped_at_the_users(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".preflight.yaml").write_text("cache-ttl: 2000000000\ncache-negative-ttl: 60\n")
    config = load_config(repo, environ=env)  # in every mode: the cache outlives the run
    assert (config.cache_ttl, config.cache_negative_ttl) == (3600, 60)
    assert len(config.warnings) == 1 and "cache-ttl" in config.warnings[0] and "3600" in config.warnings[0]
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text("cache-ttl: 86400\n")
    assert load_config(repo, environ=env).cache_ttl == 86400


def test_user_config_location(tmp_path: Path) -> None:
    assert user_config_path({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path("/x/preflight/config.yaml")
    assert user_config_path({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path("/h/.config/preflight/config.yaml")
    assert user_config_path({"HOME": "/h"}) == Path("/h/.config/preflight/config.yaml")


def test_user_file_errors_name_the_file(tmp_path: Path) -> None:
    from preflight.config import ConfigError

    env = env_for(tmp_path)
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text("timeout: 0\n")
    with pytest.raises(ConfigError, match=r"preflight/config\.yaml:1: timeout"):
        load_config(tmp_path, environ=env)


def test_user_selection_is_layered_under_the_projects(tmp_path: Path) -> None:
    """The project's select is the basis: the user's extend-select and ignore apply beneath it only
    when the project selects nothing (ruff's precedence between sources)."""
    env = env_for(tmp_path)
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text("extend-select: [PF103]\nignore: [PF101]\nrules: {PF102: error, PF201: note}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    config = load_config(repo, environ=env)
    assert (config.extend_select, config.ignore) == (("PF103",), ("PF101",))
    (repo / ".preflight.yaml").write_text("select: [PF2]\n")
    config = load_config(repo, environ=env)
    assert (config.select, config.extend_select, config.ignore) == (("PF2",), (), ())
    assert config.levels == {"PF201": Level.NOTE}  # a severity for a selected rule stays; PF102 is not selected


NETWORK = ["--allow-host", "127.0.0.1", "--no-cache", "--timeout", "5"]


@pytest.mark.parametrize(
    "command", [["check", "--format", "json", *NETWORK], ["fix", "--dry-run", *NETWORK], ["images", "--format", "json"]]
)
def test_every_command_with_untrusted_drops_the_projects_trust_settings(tmp_path: Path, command: list[str]) -> None:
    """The CLI loads the configuration in --untrusted mode for each command that has the flag."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as closed:  # bound, never listening: refused at once
        closed.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{closed.getsockname()[1]}"
        (tmp_path / "Dockerfile").write_text(f"FROM {host}/app:1\n")
        (tmp_path / ".preflight.yaml").write_text(
            f"daemon-json: daemon.json\nregistries: {{'{host}': {{endpoint: 'https://evil.example'}}}}\n"
        )
        env = {**env_for(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "127.0.0.1"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        cmd = [sys.executable, "-m", "preflight", *command, "--untrusted", "."]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 2 or "internal error" not in done.stderr, done.stderr
    assert "daemon-json: ignored under --untrusted" in done.stderr, done.stderr
    assert f"registries.{host}.endpoint: ignored under --untrusted" in done.stderr
    assert "evil.example" not in done.stdout


def test_allow_env_counts_only_from_the_users_own_file(tmp_path: Path) -> None:
    """Issue 8.1: ``allow-env`` in the user's file lets a variable through under --untrusted; the same
    key in the project's file is ignored with a warning (the project would pick the runner's secrets)."""
    import os
    import subprocess
    import sys

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "compose.yaml").write_text("services:\n  app:\n    image: registry.example.com/app:${CI_SECRET_TOKEN}\n")
    env = {**env_for(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CI_SECRET_TOKEN": "s3cret"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])

    def reference() -> tuple[str | None, str]:
        cmd = [sys.executable, "-m", "preflight", "images", "--untrusted", "--format", "json", "."]
        done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["images"][0]["reference"], done.stderr

    assert reference()[0] is None
    (repo / ".preflight.yaml").write_text("allow-env: [CI_SECRET_TOKEN]\n")
    found, stderr = reference()
    assert found is None and "allow-env: ignored" in stderr and "s3cret" not in stderr
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text("allow-env: [CI_SECRET_TOKEN]\n")
    assert reference()[0] == "registry.example.com/app:s3cret"
