"""Docker credential helpers: the one place preflight runs a program to get a secret (registry-protocol.md §6.3).

``credentials.CredentialStore`` decides WHICH helper to ask (only from the user's own Docker config
file; nothing in a repository can name one); this module runs it: ``docker-credential-<suffix> get``
found on ``PATH``, argv list, no shell, a minimal environment (``HELPER_ENV``), its own session (no
terminal to prompt on), a timeout, the server key on stdin. Its output is never echoed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TOKEN_USERNAME = "<token>"  # a helper's Username for an identity token instead of a password
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)

# Environment a credential helper receives; everything else is dropped.
HELPER_ENV: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",  # secretservice (libsecret) talks to the session bus
    "DISPLAY",
    "WAYLAND_DISPLAY",  # keyring unlock / pinentry dialogs
    "GNUPGHOME",
    "GPG_AGENT_INFO",
    "PASSWORD_STORE_DIR",  # pass
    "DOCKER_CONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",  # ecr-login, gcloud
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
HELPER_ENV_PREFIXES: tuple[str, ...] = ("AWS_", "CLOUDSDK_", "GOOGLE_", "AZURE_")  # cloud helpers


@dataclass(frozen=True, repr=False)
class HelperOutcome:
    """What a helper gave: a username and secret, nothing (no problem: it has no credentials), or a
    problem saying why it gave nothing. ``repr`` never shows the secret."""

    username: str = ""
    secret: str = ""
    problem: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.username or self.secret)

    def __repr__(self) -> str:
        return f"HelperOutcome(found={self.found}, problem={self.problem!r})"


def helper_env(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    env = {name: value for name, value in environ.items() if name in HELPER_ENV or name.startswith(HELPER_ENV_PREFIXES)}
    env.setdefault("HOME", str(home))
    env.setdefault("PATH", os.defpath)
    return env


def run_helper(
    suffix: str, key: str, config_display: str, environ: Mapping[str, str], home: Path, timeout: float
) -> HelperOutcome:
    """Run ``docker-credential-<suffix> get`` with ``key`` on stdin for at most ``timeout`` seconds."""
    label = f"credential helper {suffix!r}"
    if not _HELPER_NAME.fullmatch(suffix):
        return HelperOutcome(problem=f"{label} configured in {config_display} is not a valid helper name")
    if timeout <= 0:
        return HelperOutcome(problem=f"{label} was not run: no time left before the deadline")
    program = f"docker-credential-{suffix}"
    executable = shutil.which(program, path=environ.get("PATH", os.defpath))
    if executable is None:
        return HelperOutcome(problem=f"{label} is configured in {config_display} but {program} is not installed")
    try:
        process = subprocess.Popen(
            [executable, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=helper_env(environ, home),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return HelperOutcome(problem=f"{label} could not be started ({exc.strerror or type(exc).__name__})")
    try:
        output, _ = process.communicate(key.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return HelperOutcome(problem=f"{label} did not answer within {round(timeout, 1):g} s")
    if process.returncode != 0:
        if b"credentials not found" in output.lower():
            return HelperOutcome()
        return HelperOutcome(problem=f"{label} failed (exit status {process.returncode})")
    return _answer(output, label)


def _answer(output: bytes, label: str) -> HelperOutcome:
    try:
        data = json.loads(output.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("Username", ""), str)
        or not isinstance(data.get("Secret", ""), str)
    ):
        return HelperOutcome(problem=f"{label} printed something other than credentials")
    return HelperOutcome(data.get("Username", ""), data.get("Secret", ""))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the helper we started and its own process group (it ran in a new session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.communicate()
