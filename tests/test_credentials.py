"""Credential lookup: Docker config.json, real credential-helper processes, DOCKER_AUTH_CONFIG, Podman files."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from preflight.registry.credentials import HUB_KEY, Credential, CredentialStore
from preflight.registry.credhelper import HELPER_ENV


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Env:
    """A fake user: home, PATH with a bin directory for helpers, and an environ mapping."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.bin = root / "bin"
        self.runtime = root / "run"
        for directory in (self.home, self.bin, self.runtime):
            directory.mkdir()
        self.environ = {
            "HOME": str(self.home),
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }

    def docker_config(self, data: object, *, raw: str | None = None) -> Path:
        path = self.home / ".docker" / "config.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(raw if raw is not None else json.dumps(data))
        return path

    def store(self, **kwargs: object) -> CredentialStore:
        return CredentialStore(self.environ, **kwargs)  # type: ignore[arg-type]

    def helper(self, name: str, body: str) -> Path:
        """A real executable ``docker-credential-<name>``: Python code that appends a record, then ``body``.

        It runs with the interpreter that runs the tests, never with whatever ``python3`` is on PATH (a
        version manager's shim adds variables to the helper's environment)."""
        record = self.home / f"{name}.calls"
        path = self.bin / f"docker-credential-{name}"
        path.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys, time\n"
            "data = sys.stdin.read()\n"
            f"with open({str(record)!r}, 'a') as out:\n"
            "    out.write(json.dumps({'argv': sys.argv, 'stdin': data, 'ppid': os.getppid(),\n"
            "                          'pid': os.getpid(), 'env': sorted(os.environ)}) + '\\n')\n" + body
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def calls(self, name: str) -> list[dict]:
        record = self.home / f"{name}.calls"
        if not record.exists():
            return []
        return [json.loads(line) for line in record.read_text().splitlines()]


def answer(username: str, secret: str) -> str:
    return f"print(json.dumps({{'ServerURL': 'x', 'Username': {username!r}, 'Secret': {secret!r}}}))\n"


NOT_FOUND = "print('credentials not found in native keychain'); sys.exit(1)\n"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# ------------------------------------------------------------------ config.json auths
def test_auth_is_split_at_first_colon_and_nul_stripped(env: Env) -> None:
    env.docker_config({"auths": {HUB_KEY: {"auth": b64("alice:pa:ss\0\0")}}})
    cred = env.store().lookup("docker.io")
    assert cred == Credential("alice", "pa:ss", "basic", "~/.docker/config.json (auths)")


def test_username_and_password_fields(env: Env) -> None:
    env.docker_config({"auths": {"ghcr.io": {"username": "bob", "password": "pw"}}})
    cred = env.store().lookup("ghcr.io")
    assert cred is not None and (cred.username, cred.secret, cred.kind) == ("bob", "pw", "basic")


def test_identity_token_and_registry_token(env: Env) -> None:
    env.docker_config(
        {
            "auths": {
                "acr.example.io": {"auth": b64("00000000-0000-0000-0000-000000000000:"), "identitytoken": "refresh-1"},
                "tok.example.io": {"registrytoken": "bearer-1", "identitytoken": "ignored"},
            }
        }
    )
    store = env.store()
    identity = store.lookup("acr.example.io")
    registry = store.lookup("tok.example.io")
    assert identity is not None and (identity.kind, identity.secret) == ("identity_token", "refresh-1")
    assert identity.username == "00000000-0000-0000-0000-000000000000"
    assert registry is not None and (registry.kind, registry.secret) == ("registry_token", "bearer-1")


@pytest.mark.parametrize("bad", [b64(":SECRETPW"), b64("no-colon-SECRETPW"), "%%%not-base64%%%SECRETPW"])
def test_invalid_auth_is_a_warning_without_the_value(env: Env, bad: str) -> None:
    env.docker_config({"auths": {"ghcr.io": {"auth": bad}}})
    store = env.store()
    assert store.lookup("ghcr.io") is None
    assert len(store.warnings) == 1
    assert "'ghcr.io'" in store.warnings[0] and "~/.docker/config.json" in store.warnings[0]
    assert bad not in store.warnings[0] and "SECRETPW" not in store.warnings[0]


def test_empty_marker_entry_means_no_credentials(env: Env) -> None:
    env.docker_config({"auths": {"ghcr.io": {}, "quay.io": {"email": "a@b.c"}}})
    store = env.store()
    assert store.lookup("ghcr.io") is None and store.lookup("quay.io") is None
    assert store.warnings == ()


@pytest.mark.parametrize("domain", ["docker.io", "index.docker.io", "registry-1.docker.io"])
@pytest.mark.parametrize("key", [HUB_KEY, "docker.io", "index.docker.io", "https://registry-1.docker.io"])
def test_docker_hub_key_aliases(env: Env, domain: str, key: str) -> None:
    env.docker_config({"auths": {key: {"auth": b64("hub:pw")}}})
    cred = env.store().lookup(domain)
    assert cred is not None and cred.username == "hub"


def test_exact_hub_key_wins_over_alias(env: Env) -> None:
    env.docker_config({"auths": {"docker.io": {"auth": b64("alias:pw")}, HUB_KEY: {"auth": b64("exact:pw")}}})
    cred = env.store().lookup("docker.io")
    assert cred is not None and cred.username == "exact"


def test_legacy_keys_match_by_hostname(env: Env) -> None:
    env.docker_config(
        {
            "auths": {
                "https://registry.example.com/v1/": {"auth": b64("legacy:pw")},
                "http://127.0.0.1:5000": {"auth": b64("local:pw")},
            }
        }
    )
    store = env.store()
    legacy, local = store.lookup("registry.example.com"), store.lookup("127.0.0.1:5000")
    assert legacy is not None and legacy.username == "legacy"
    assert local is not None and local.username == "local"
    assert store.lookup("127.0.0.1:5001") is None  # the port is part of the host


@pytest.mark.parametrize("domain", ["example.com", "evil-registry.example.com.attacker.net", "registry.example.co"])
def test_no_prefix_or_suffix_matching(env: Env, domain: str) -> None:
    env.docker_config({"auths": {"registry.example.com": {"auth": b64("user:pw")}}})
    assert env.store().lookup(domain) is None


def test_docker_config_env_directory(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": b64("env:pw")}}}))
    env.docker_config({"auths": {"ghcr.io": {"auth": b64("home:pw")}}})
    env.environ["DOCKER_CONFIG"] = str(other)
    cred = env.store().lookup("ghcr.io")
    assert cred is not None and cred.username == "env"
    assert cred.source == f"{other / 'config.json'} (auths)"


@pytest.mark.parametrize("raw", ["{not json", '{"auths": []}', "[1, 2]", '{"credHelpers": {"x": 1}}'])
def test_malformed_config_is_a_warning_naming_the_file(env: Env, raw: str) -> None:
    env.docker_config(None, raw=raw)
    store = env.store()
    assert store.lookup("docker.io") is None
    assert len(store.warnings) == 1 and "~/.docker/config.json" in store.warnings[0]


def test_missing_config_is_fine(env: Env) -> None:
    store = env.store()
    assert store.lookup("docker.io") is None and store.warnings == ()


def test_disabled_store_never_looks(env: Env) -> None:
    env.docker_config({"credsStore": "rec", "auths": {HUB_KEY: {"auth": b64("a:b")}}})
    env.helper("rec", answer("u", "s"))
    store = env.store(enabled=False)
    assert store.lookup("docker.io") is None
    assert env.calls("rec") == []


def test_credential_never_prints_its_secret() -> None:
    cred = Credential("alice", "TOPSECRET-123", "basic", "DOCKER_AUTH_CONFIG")
    for text in (repr(cred), str(cred), f"{cred}", repr([cred])):
        assert "TOPSECRET-123" not in text and "alice" in text
    same = Credential("alice", "TOPSECRET-123", "basic", "elsewhere")
    other = Credential("alice", "TOPSECRET-124", "basic", "DOCKER_AUTH_CONFIG")
    assert cred.identity == same.identity != other.identity
    assert len(cred.identity) == 16 and "TOPSECRET" not in cred.identity


# ------------------------------------------------------------------ credential helpers (real processes)
def test_helper_protocol_argv_stdin_no_shell_minimal_env(env: Env) -> None:
    path = env.helper("rec", answer("helper-user", "helper-secret"))
    env.docker_config({"credsStore": "rec"})
    env.environ["GITHUB_TOKEN"] = "must-not-leak"
    env.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/tmp/bus"
    store = env.store()
    cred = store.lookup("docker.io")
    assert cred == Credential("helper-user", "helper-secret", "basic", "credential helper 'rec'")
    (call,) = env.calls("rec")
    assert call["argv"] == [str(path), "get"]
    assert call["stdin"] == "https://index.docker.io/v1/"
    assert call["ppid"] == os.getpid()  # started directly by us, not through a shell
    assert "GITHUB_TOKEN" not in call["env"] and "DBUS_SESSION_BUS_ADDRESS" in call["env"]
    assert set(call["env"]) <= set(HELPER_ENV)
    assert store.lookup("docker.io") == cred and store.lookup("index.docker.io") == cred
    assert len(env.calls("rec")) == 1  # one run per domain per store
    assert store.warnings == ()


def test_helpers_run_with_the_interpreter_that_runs_the_tests(env: Env) -> None:
    shim = env.bin / "python3"  # first on PATH, like a version manager's shim
    shim.write_text("#!/bin/sh\nexit 97\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env.helper("rec", answer("helper-user", "helper-secret"))
    env.docker_config({"credsStore": "rec"})
    store = env.store()
    assert store.lookup("docker.io") == Credential("helper-user", "helper-secret", "basic", "credential helper 'rec'")
    assert store.warnings == ()


def test_helper_receives_host_key_for_other_registries(env: Env) -> None:
    env.helper("rec", answer("u", "s"))
    env.docker_config({"credsStore": "rec"})
    env.store().lookup("127.0.0.1:5000")
    assert [call["stdin"] for call in env.calls("rec")] == ["127.0.0.1:5000"]


def test_cred_helpers_win_over_creds_store(env: Env) -> None:
    env.helper("one", answer("from-one", "s1"))
    env.helper("two", answer("from-two", "s2"))
    env.docker_config({"credsStore": "two", "credHelpers": {"ghcr.io": "one"}})
    store = env.store()
    ghcr, quay = store.lookup("ghcr.io"), store.lookup("quay.io")
    assert ghcr is not None and ghcr.username == "from-one" and ghcr.source == "credential helper 'one'"
    assert quay is not None and quay.username == "from-two"
    assert [c["stdin"] for c in env.calls("one")] == ["ghcr.io"]
    assert [c["stdin"] for c in env.calls("two")] == ["quay.io"]


def test_helper_token_username_means_identity_token(env: Env) -> None:
    env.helper("rec", answer("<token>", "refresh-xyz"))
    env.docker_config({"credsStore": "rec"})
    cred = env.store().lookup("docker.io")
    assert cred is not None and (cred.kind, cred.secret) == ("identity_token", "refresh-xyz")


@pytest.mark.parametrize("body", [NOT_FOUND, answer("", "")])
def test_helper_without_credentials(env: Env, body: str) -> None:
    env.helper("rec", body)
    env.docker_config({"credsStore": "rec"})
    store = env.store()
    assert store.lookup("ghcr.io") is None
    assert store.warnings == ()
    assert len(env.calls("rec")) == 1


def test_helper_not_found_falls_back_to_inline_auth_with_warning(env: Env) -> None:
    env.helper("rec", NOT_FOUND)
    env.docker_config({"credsStore": "rec", "auths": {"ghcr.io": {"auth": b64("inline:pw")}}})
    store = env.store()
    cred = store.lookup("ghcr.io")
    assert cred is not None and cred.username == "inline" and cred.source == "~/.docker/config.json (auths)"
    assert store.warnings == (
        "credential helper 'rec' has no credentials for ghcr.io; using the credentials stored inline in "
        "~/.docker/config.json instead",
    )


def test_missing_helper_warns_and_continues(env: Env) -> None:
    env.docker_config({"credsStore": "desktop"})
    store = env.store()
    assert store.lookup("docker.io") is None
    assert store.warnings == (
        "credential helper 'desktop' is configured in ~/.docker/config.json but docker-credential-desktop is not "
        "installed; continuing without credentials for docker.io",
    )


def test_missing_helper_with_inline_auth(env: Env) -> None:
    env.docker_config({"credsStore": "desktop", "auths": {HUB_KEY: {"auth": b64("inline:pw")}}})
    store = env.store()
    cred = store.lookup("docker.io")
    assert cred is not None and cred.username == "inline"
    assert len(store.warnings) == 1 and "not installed; using the credentials stored inline" in store.warnings[0]


def test_helper_name_with_shell_metacharacters_runs_nothing(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    env.docker_config({"credsStore": f"x; touch {marker}"})
    store = env.store()
    assert store.lookup("docker.io") is None
    assert not marker.exists()
    assert "not a valid helper name" in store.warnings[0]


def test_helper_timeout_kills_it(env: Env) -> None:
    env.helper("slow", "time.sleep(60)\n")
    env.docker_config({"credsStore": "slow"})
    store = env.store(helper_timeout=0.5)
    started = time.monotonic()
    assert store.lookup("docker.io") is None
    assert time.monotonic() - started < 30  # far below the helper's 60 s sleep: it was killed
    assert store.warnings == (
        "credential helper 'slow' did not answer within 0.5 s; continuing without credentials for docker.io",
    )
    (call,) = env.calls("slow")
    with pytest.raises(ProcessLookupError):
        os.kill(call["pid"], 0)


def test_helper_crash_is_a_warning_without_its_output(env: Env) -> None:
    env.helper("crash", "print('fatal: secret=hunter2'); sys.exit(3)\n")
    env.helper("garbage", "print('hunter2 not json')\n")
    env.docker_config({"credHelpers": {"ghcr.io": "crash", "quay.io": "garbage"}})
    store = env.store()
    assert store.lookup("ghcr.io") is None and store.lookup("quay.io") is None
    assert store.warnings == (
        "credential helper 'crash' failed (exit status 3); continuing without credentials for ghcr.io",
        "credential helper 'garbage' printed something other than credentials; continuing without credentials for quay.io",
    )


# ------------------------------------------------------------------ DOCKER_AUTH_CONFIG
def test_docker_auth_config_takes_precedence(env: Env) -> None:
    env.helper("rec", answer("helper", "s"))
    env.docker_config({"credsStore": "rec"})
    env.environ["DOCKER_AUTH_CONFIG"] = json.dumps({"auths": {HUB_KEY: {"auth": b64("envuser:envpw")}}})
    store = env.store()
    assert store.lookup("docker.io") == Credential("envuser", "envpw", "basic", "DOCKER_AUTH_CONFIG")
    assert env.calls("rec") == []
    other = store.lookup("ghcr.io")  # not in the variable: the file store is the fallback
    assert other is not None and other.username == "helper"


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"auths": {HUB_KEY: {"auth": b64("u:p"), "username": "x"}}}),
        json.dumps({"auths": {}, "credsStore": "rec"}),
        json.dumps({"auths": {HUB_KEY: {"auth": b64(":p")}}}),
        json.dumps({"auths": {}}) + json.dumps({"auths": {}}),
    ],
)
def test_invalid_docker_auth_config_is_reported_and_ignored(env: Env, value: str) -> None:
    env.docker_config({"auths": {HUB_KEY: {"auth": b64("fileuser:pw")}}})
    env.environ["DOCKER_AUTH_CONFIG"] = value
    store = env.store()
    cred = store.lookup("docker.io")
    assert cred is not None and cred.username == "fileuser"
    assert len(store.warnings) == 1 and store.warnings[0].startswith("DOCKER_AUTH_CONFIG is invalid")
    assert b64("u:p") not in store.warnings[0]


# ------------------------------------------------------------------ Podman auth files
def podman_file(path: Path, auths: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths}))


def test_podman_files_are_a_fallback_in_order(env: Env, tmp_path: Path) -> None:
    runtime = env.runtime / "containers" / "auth.json"
    config_home = env.home / ".config" / "containers" / "auth.json"
    explicit = tmp_path / "explicit-auth.json"
    podman_file(config_home, {"quay.io": {"auth": b64("cfg:pw")}, "ghcr.io": {"auth": b64("cfg:pw")}})
    podman_file(runtime, {"quay.io": {"auth": b64("run:pw")}, "docker.io": {"auth": b64("runhub:pw")}})
    podman_file(explicit, {"quay.io": {"auth": b64("explicit:pw")}})
    env.docker_config({"auths": {"ghcr.io": {"auth": b64("docker:pw")}}})
    env.environ["REGISTRY_AUTH_FILE"] = str(explicit)
    store = env.store()
    quay, hub, ghcr = store.lookup("quay.io"), store.lookup("docker.io"), store.lookup("ghcr.io")
    assert quay is not None and quay.username == "explicit" and quay.source == f"podman auth.json ({explicit})"
    assert hub is not None and hub.username == "runhub"
    assert ghcr is not None and ghcr.username == "docker"  # Docker's config comes first


def test_podman_repository_scoped_keys_are_not_host_credentials(env: Env) -> None:
    podman_file(env.runtime / "containers" / "auth.json", {"quay.io/org/app": {"auth": b64("scoped:pw")}})
    assert env.store().lookup("quay.io") is None


def test_missing_helper_then_podman_says_which_source_was_used(env: Env) -> None:
    env.docker_config({"credsStore": "desktop"})
    podman_file(env.home / ".config" / "containers" / "auth.json", {"ghcr.io": {"auth": b64("pod:pw")}})
    store = env.store()
    cred = store.lookup("ghcr.io")
    assert cred is not None and cred.source == "podman auth.json (~/.config/containers/auth.json)"
    assert store.warnings[0].endswith(
        "using the credentials from podman auth.json (~/.config/containers/auth.json) instead"
    )


def test_helper_deadline_is_read_on_the_injected_clock(env: Env) -> None:
    # the registry step passes its own clock: the deadline and "now" come from the same one
    env.helper("rec", answer("u", "s"))
    env.docker_config({"credsStore": "rec"})
    late = env.store(deadline=100.0, clock=lambda: 101.0)
    assert late.lookup("ghcr.io") is None
    assert env.calls("rec") == []
    assert any("no time left before the deadline" in w for w in late.warnings)
    early = env.store(deadline=100.0, clock=lambda: 99.0)
    cred = early.lookup("ghcr.io")
    assert cred is not None and cred.username == "u"
