"""Registry credentials from the user's own configuration (registry-protocol.md §6).

Order, first match wins: ``DOCKER_AUTH_CONFIG`` > Docker's ``config.json`` (``credHelpers`` >
``credsStore`` > ``auths``) > Podman auth files (``$REGISTRY_AUTH_FILE``,
``$XDG_RUNTIME_DIR/containers/auth.json``, ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``).

Security:
* Credential helpers are code execution. They come ONLY from the user's Docker config file
  (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``); nothing in a checked repository can name
  one (a Dockerfile or compose file has no syntax for it, and preflight reads no helper setting from
  project files or Podman auth files). ``credhelper.run_helper`` runs one (argv list, no shell, a minimal
  environment, its own session, a timeout, the key on stdin).
* Secrets never appear in ``repr``/``str``, warnings or caches; helper output is never echoed.
  ``Credential.identity`` is a one-way hash for token-cache keys.

Matching: Docker Hub (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``) uses the key
``https://index.docker.io/v1/``; other registries ``host[:port]``. The exact key wins; otherwise a key
matches when its host (scheme and path removed, as docker/cli ``ConvertToHostname``; Hub aliases
folded) equals the domain's. Never prefix or wildcard matching. Podman keys with a repository path
(``quay.io/org``) are skipped: ``lookup`` only knows the domain.
Deviation from Docker: when a helper has nothing (or fails), an inline ``auth`` for the same key is used,
with a warning (docker-py does this; the Docker CLI does not).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..imageref import DEFAULT_DOMAIN, DOCKER_HUB_DOMAINS
from .credhelper import TOKEN_USERNAME, run_helper

HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credential:
    """Credentials for one registry. ``secret`` is never printed."""

    username: str
    secret: str = field(repr=False)  # password, identity token or registry token
    kind: str  # "basic" | "identity_token" | "registry_token"
    source: str  # safe description of where it came from

    @property
    def identity(self) -> str:
        """A one-way hash of the credential, for token- and facts-cache keys."""
        digest = hashlib.sha256("\0".join((self.kind, self.username, self.secret)).encode("utf-8"))
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, kind={self.kind!r}, source={self.source!r})"

    __str__ = __repr__


# ------------------------------------------------------------------ keys
def server_key(domain: str) -> str:
    """The key Docker stores credentials for ``domain`` under (also what a helper receives)."""
    return HUB_KEY if domain.lower() in DOCKER_HUB_DOMAINS else domain


def _host_of(key: str) -> str:
    """docker/cli ``ConvertToHostname``, lower-cased, Hub aliases folded to ``docker.io``."""
    if "://" in key:
        key = key.split("://", 1)[1]
    host = key.split("/", 1)[0].lower()
    return DEFAULT_DOMAIN if host in DOCKER_HUB_DOMAINS else host


def _find_key(keys: list[str], domain: str, *, podman: bool = False) -> str | None:
    """The stored key for ``domain``: exact first, then by host (module docstring)."""
    wanted = server_key(domain)
    if wanted in keys:
        return wanted
    host = _host_of(domain)
    for key in keys:
        if podman and "://" not in key and "/" in key:
            continue  # repository-scoped Podman key
        if _host_of(key) == host:
            return key
    return None


# ------------------------------------------------------------------ entries
def _decode_auth(value: str) -> tuple[str, str]:
    """``auth`` = base64("user:password"); raises ValueError (message without the value)."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not valid base64 of user:password") from None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise ValueError("the user name is empty or the ':' is missing")
    return user, password.strip("\0")


def _entry_credential(entry: object, source: str) -> Credential:
    """A credential from an ``auths`` entry; raises LookupError when it holds none, ValueError when invalid."""
    if not isinstance(entry, dict):
        raise ValueError("the entry is not an object")
    username, password = _str(entry, "username"), _str(entry, "password")
    auth = _str(entry, "auth")
    if auth:
        username, password = _decode_auth(auth)
    if token := _str(entry, "registrytoken"):
        return Credential(username, token, "registry_token", source)
    if token := _str(entry, "identitytoken"):
        return Credential(username, token, "identity_token", source)
    if username:
        return Credential(username, password, "basic", source)
    raise LookupError("no credentials in the entry")


def _str(entry: Mapping[str, object], name: str) -> str:
    value = entry.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _AuthFile:
    """A parsed config.json or auth.json."""

    display: str
    auths: dict[str, object]
    helpers: dict[str, str]
    store: str | None


def _read_auth_file(path: Path, display: str) -> tuple[_AuthFile | None, str | None]:
    """(parsed file | None, warning | None); a missing file is (None, None)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
        return None, f"cannot read {display} ({reason}); continuing without its credentials"
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        return None, f"{display} is not valid JSON (line {exc.lineno}); continuing without its credentials"
    if not isinstance(data, dict):
        data = {"auths": "not an object"}
    auths, helpers, store = (data.get(k) for k in ("auths", "credHelpers", "credsStore"))
    valid = (
        isinstance(auths, (dict, type(None)))
        and isinstance(helpers, (dict, type(None)))
        and all(isinstance(v, str) for v in (helpers or {}).values())
        and isinstance(store, (str, type(None)))
    )
    if not valid:
        return (
            None,
            f"{display} is malformed (expected an object whose auths, credHelpers and credsStore have the documented types); continuing without its credentials",
        )
    return _AuthFile(display, dict(auths or {}), dict(helpers or {}), store or None), None


def _parse_env_config(text: str) -> tuple[dict[str, Credential], str | None]:
    """``DOCKER_AUTH_CONFIG`` (docker/cli ``parseEnvConfig``): ``{"auths": {key: {"auth": ...}}}`` only."""

    def invalid(reason: str) -> tuple[dict[str, Credential], str]:
        return {}, f"DOCKER_AUTH_CONFIG is invalid ({reason}); ignoring it"

    stripped = text.strip()
    if not stripped:
        return {}, None
    try:
        data, end = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError:
        return invalid("not JSON")
    if stripped[end:].strip():
        return invalid("more than one JSON value")
    if not isinstance(data, dict) or set(data) - {"auths"} or not isinstance(data.get("auths", {}), dict):
        return invalid('expected {"auths": {...}} and nothing else')
    found: dict[str, Credential] = {}
    for key, entry in data.get("auths", {}).items():
        if (
            not isinstance(entry, dict)
            or set(entry) != {"auth"}
            or not isinstance(entry["auth"], str)
            or not entry["auth"]
        ):
            return invalid(f"the entry for {key!r} must hold exactly one non-empty 'auth'")
        try:
            user, password = _decode_auth(entry["auth"])
        except ValueError as exc:
            return invalid(f"'auth' for {key!r} is {exc}")
        found[key] = Credential(user, password, "basic", "DOCKER_AUTH_CONFIG")
    return found, None


class CredentialStore:
    """Looks credentials up per registry domain; one lookup (and helper run) per domain per run."""

    def __init__(
        self,
        environ: Mapping[str, str],
        home: Path | None = None,
        *,
        helper_timeout: float = 10.0,
        enabled: bool = True,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``deadline`` (a ``clock()`` value): no helper runs past it, however many domains ask."""
        self._clock = clock
        self._environ = dict(environ)
        self._home = home if home is not None else Path(environ["HOME"]) if environ.get("HOME") else Path.home()
        self._timeout = helper_timeout
        self._deadline = deadline
        self._enabled = enabled
        self._lock = threading.Lock()
        self._cache: dict[str, Credential | None] = {}
        self._warnings: list[str] = []
        self._loaded = False
        self._env_auths: dict[str, Credential] = {}
        self._docker: _AuthFile | None = None
        self._podman: list[_AuthFile] = []

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._warnings)

    def _warn(self, message: str) -> None:
        if message not in self._warnings:
            self._warnings.append(message)

    def _display(self, path: Path) -> str:
        try:
            return "~/" + path.relative_to(self._home).as_posix()
        except ValueError:
            return str(path)

    def docker_config_path(self) -> Path:
        """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
        directory = self._environ.get("DOCKER_CONFIG")
        return Path(directory) / "config.json" if directory else self._home / ".docker" / "config.json"

    def podman_auth_paths(self) -> list[Path]:
        """Podman / containers-image auth files, in lookup order (§6.4)."""
        env = self._environ
        runtime = env.get("XDG_RUNTIME_DIR")
        config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else self._home / ".config"
        paths = [Path(env["REGISTRY_AUTH_FILE"])] if env.get("REGISTRY_AUTH_FILE") else []
        paths.append(
            Path(runtime) / "containers" / "auth.json" if runtime else Path(f"/run/containers/{os.getuid()}/auth.json")
        )
        paths.append(config_home / "containers" / "auth.json")
        return paths

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._env_auths, warning = _parse_env_config(self._environ.get("DOCKER_AUTH_CONFIG", ""))
        if warning:
            self._warn(warning)
        path = self.docker_config_path()
        self._docker, warning = _read_auth_file(path, self._display(path))
        if warning:
            self._warn(warning)
        for path in self.podman_auth_paths():
            parsed, warning = _read_auth_file(path, f"podman auth.json ({self._display(path)})")
            if warning:
                self._warn(warning)
            if parsed is not None:
                self._podman.append(parsed)

    def lookup(self, domain: str) -> Credential | None:
        """Credentials for an ``ImageRef.domain`` (``docker.io``, ``ghcr.io``, ``127.0.0.1:5000``), or None."""
        if not self._enabled:
            return None
        cache_key = _host_of(domain)
        with self._lock:
            if cache_key not in self._cache:
                self._load()
                self._cache[cache_key] = self._find(domain)
            return self._cache[cache_key]

    def _find(self, domain: str) -> Credential | None:
        key = _find_key(list(self._env_auths), domain)
        if key is not None:
            return self._env_auths[key]
        helper_problem: str | None = None
        docker = self._docker
        if docker is not None:
            helper_key = _find_key(list(docker.helpers), domain)
            helper = docker.helpers[helper_key] if helper_key is not None else docker.store
            if helper:
                credential, problem = self._from_helper(helper, domain, docker.display)
                if credential is not None:
                    return credential
                helper_problem = problem or f"credential helper {helper!r} has no credentials for {domain}"
            found = self._from_file(docker, domain, f"{docker.display} (auths)")
            if found is not None:
                if helper_problem:
                    self._warn(f"{helper_problem}; using the credentials stored inline in {docker.display} instead")
                return found
        for podman in self._podman:
            found = self._from_file(podman, domain, podman.display, podman=True)
            if found is not None:
                if helper_problem:
                    self._warn(f"{helper_problem}; using the credentials from {podman.display} instead")
                return found
        if helper_problem and "has no credentials" not in helper_problem:
            self._warn(f"{helper_problem}; continuing without credentials for {domain}")
        return None

    def _from_file(self, parsed: _AuthFile, domain: str, source: str, *, podman: bool = False) -> Credential | None:
        key = _find_key(list(parsed.auths), domain, podman=podman)
        if key is None:
            return None
        try:
            return _entry_credential(parsed.auths[key], source)
        except LookupError:
            return None
        except ValueError as exc:
            self._warn(f"ignoring the credentials for {key!r} in {parsed.display}: {exc}")
            return None

    def _from_helper(self, suffix: str, domain: str, config_display: str) -> tuple[Credential | None, str | None]:
        """(the helper's credential, or why it gave none: None when it simply has none)."""
        timeout = self._timeout if self._deadline is None else min(self._timeout, self._deadline - self._clock())
        outcome = run_helper(suffix, server_key(domain), config_display, self._environ, self._home, timeout)
        if not outcome.found:
            return None, outcome.problem
        label = f"credential helper {suffix!r}"
        if outcome.username == TOKEN_USERNAME:
            return Credential("", outcome.secret, "identity_token", label), None
        return Credential(outcome.username, outcome.secret, "basic", label), None
