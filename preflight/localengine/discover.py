"""Which engine ``docker build`` on this machine talks to, found the way the docker CLI finds it.

Order (docker/cli ``resolveContextName`` and ``client.FromEnv``):

1. ``--engine URL|off`` (or the user's ``engine`` setting): that engine, or none.
2. ``DOCKER_HOST`` (``unix://PATH``, ``tcp://HOST:PORT``; TLS when ``DOCKER_TLS_VERIFY`` is set,
   with ``ca.pem``/``cert.pem``/``key.pem`` from ``DOCKER_CERT_PATH``, default ``~/.docker``).
3. ``DOCKER_CONTEXT``, else ``currentContext`` in the docker config (``$DOCKER_CONFIG/config.json``
   or ``~/.docker/config.json``): the context store under that directory
   (``contexts/meta/<sha256 of the name>/meta.json``, TLS files in ``contexts/tls/…/docker``).
4. The default socket ``/var/run/docker.sock`` when it exists, else Podman's Docker-compatible
   socket (``$XDG_RUNTIME_DIR/podman/podman.sock``, ``/run/podman/podman.sock``).

1–3 are *configured*: an engine that does not answer there is a finding (builds on this machine
fail). 4 is a guess: when nothing answers, the engine is absent and nothing is said. ``ssh://``,
``npipe://`` and ``fd://`` are reported as not supported, never guessed at.

No network code here: this module reads the environment and small files only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..safetext import redact_url

DEFAULT_SOCKET = "/var/run/docker.sock"
PODMAN_ROOT_SOCKET = "/run/podman/podman.sock"
MAX_CONFIG_BYTES = 1 << 20  # a docker config.json or context meta.json larger than this is not read
OFF = "off"


@dataclass(frozen=True)
class TLSFiles:
    ca: str | None
    cert: str | None
    key: str | None
    verify: bool  # verify the engine's certificate (False: DOCKER_TLS / context SkipTLSVerify)


@dataclass(frozen=True)
class Target:
    """An engine to ask. ``url`` is ``unix:///path`` or ``tcp://host:port``."""

    url: str
    source: str  # "--engine", "DOCKER_HOST", 'context "ci"', "default socket", "Podman socket"
    configured: bool  # chosen explicitly: not answering is a finding
    tls: TLSFiles | None = None

    @property
    def socket_path(self) -> str | None:
        return self.url[len("unix://") :] if self.url.startswith("unix://") else None

    @property
    def base_url(self) -> str:
        """``http://docker`` for a socket, else ``http(s)://host:port``."""
        if self.socket_path is not None:
            return "http://docker"
        return ("https://" if self.tls is not None else "http://") + self.url[len("tcp://") :]


@dataclass(frozen=True)
class Unusable:
    """A configured engine preflight cannot ask. ``supported`` False: a scheme preflight does not
    speak (``ssh://``): a warning, since the engine may well work. True: docker fails too (a
    context that does not exist, a malformed ``DOCKER_HOST``): a finding."""

    endpoint: str
    source: str
    reason: str
    supported: bool


def find_engine(environ: Mapping[str, str], choice: str | None = None) -> Target | Unusable | None:
    """The engine for this run, an ``Unusable`` configured one, or None (no engine, or ``off``)."""
    if choice is not None and choice.strip():
        if choice.strip().lower() == OFF:
            return None
        return _from_url(choice.strip(), "--engine", environ, tls=_env_tls(environ))
    host = environ.get("DOCKER_HOST", "").strip()
    if host:
        return _from_url(host, "DOCKER_HOST", environ, tls=_env_tls(environ))
    config_dir = docker_config_dir(environ)
    name = environ.get("DOCKER_CONTEXT", "").strip()
    source = "DOCKER_CONTEXT"
    if not name:
        name = _current_context(config_dir)
        source = f"currentContext in {config_dir / 'config.json'}"
    if name and name != "default":
        return _from_context(name, source, config_dir, environ)
    return _default_socket(environ)


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    directory = environ.get("DOCKER_CONFIG", "").strip()
    if directory:
        return Path(directory)
    return Path(environ.get("HOME") or os.path.expanduser("~")) / ".docker"


def _default_socket(environ: Mapping[str, str]) -> Target | None:
    if _is_socket(DEFAULT_SOCKET):
        return Target(f"unix://{DEFAULT_SOCKET}", "default socket", configured=False)
    candidates = []
    runtime = environ.get("XDG_RUNTIME_DIR", "").strip()
    if runtime:
        candidates.append(os.path.join(runtime, "podman", "podman.sock"))
    candidates.append(PODMAN_ROOT_SOCKET)
    for path in candidates:
        if _is_socket(path):
            return Target(f"unix://{path}", "Podman socket", configured=False)
    return None


def _is_socket(path: str) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _env_tls(environ: Mapping[str, str]) -> TLSFiles | None:
    """``DOCKER_TLS_VERIFY`` (any non-empty value, as the CLI reads it) turns TLS on, verified."""
    if not environ.get("DOCKER_TLS_VERIFY", ""):
        return None
    directory = environ.get("DOCKER_CERT_PATH", "").strip()
    base = Path(directory) if directory else docker_config_dir(environ)
    return _tls_files(base, verify=True)


def _tls_files(base: Path, *, verify: bool) -> TLSFiles:
    def present(name: str) -> str | None:
        path = base / name
        return str(path) if path.is_file() else None

    return TLSFiles(present("ca.pem"), present("cert.pem"), present("key.pem"), verify)


def _from_url(text: str, source: str, environ: Mapping[str, str], *, tls: TLSFiles | None) -> Target | Unusable:
    shown = redact_url(text)
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme in ("ssh", "npipe", "fd"):
        return Unusable(shown, source, f"{scheme}:// engines are not supported; the engine is not asked", False)
    if scheme == "unix":
        if not rest.startswith("/"):
            return Unusable(shown, source, "a unix:// address needs an absolute socket path", True)
        return Target(f"unix://{rest}", source, configured=True)
    if scheme in ("tcp", "http", "https"):
        try:
            parts = urlsplit(f"tcp://{rest}")
            port = parts.port
        except ValueError:
            return Unusable(shown, source, "not a valid tcp:// address", True)
        if not parts.hostname or parts.username or parts.password:
            return Unusable(shown, source, "a tcp:// address needs a host (and no user information)", True)
        if scheme == "https" and tls is None:
            tls = TLSFiles(None, None, None, verify=True)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        default = 2376 if tls is not None else 2375
        return Target(f"tcp://{host}:{port or default}", source, configured=True, tls=tls)
    return Unusable(shown, source, "expected unix:///PATH or tcp://HOST:PORT", True)


def _read_json(path: Path) -> object:
    """A small JSON file, or None when absent, too large or malformed."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CONFIG_BYTES:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _current_context(config_dir: Path) -> str:
    data = _read_json(config_dir / "config.json")
    value = data.get("currentContext") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _from_context(name: str, source: str, config_dir: Path, environ: Mapping[str, str]) -> Target | Unusable:
    """The docker endpoint of a stored context (docker/cli ``context/store``)."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    label = f'context "{name[:80]}" ({source})'
    meta = _read_json(config_dir / "contexts" / "meta" / digest / "meta.json")
    if not isinstance(meta, dict):
        return Unusable(name[:80], label, f"no such context in {config_dir / 'contexts'}: docker commands fail", True)
    endpoints = meta.get("Endpoints")
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = docker.get("Host") if isinstance(docker, dict) else None
    if not isinstance(host, str) or not host.strip():
        return Unusable(name[:80], label, "the context has no docker endpoint", True)
    tls_dir = config_dir / "contexts" / "tls" / digest / "docker"
    skip = bool(docker.get("SkipTLSVerify")) if isinstance(docker, dict) else False
    tls = _tls_files(tls_dir, verify=not skip) if tls_dir.is_dir() else None
    return _from_url(host.strip(), label, environ, tls=tls)
