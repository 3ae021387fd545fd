"""Start and stop real Distribution 2.8 registries (``docker-registry serve``) for tests.

Follows docs/test-registry.md sections 2-4: JSON config, port 0 discovered from the log file,
clean environment, parent-death signal, SIGTERM then SIGKILL by PID.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .httpthread import LoopbackAddress

if TYPE_CHECKING:
    from .images import Manifest

INSTALL_HINT = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry"
)
HTPASSWD_ALICE = "alice:$2y$05$.0Vx/9A6FP3Xmpa3xbn28OfRDMIefjHV4Gz/JR1zhwNZcyuw3piyW\n"
"""bcrypt htpasswd line for alice / s3cret (Distribution refuses $apr1$ lines)."""

BASIC_REALM = "preflight-test"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class RegistryStartError(RuntimeError):
    """The registry exited or never reported its port; the message holds its log."""


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child get SIGTERM when the forking thread dies.

    The libc function is looked up here, before fork: the hook does one foreign call and nothing else.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None
    signum = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)

    return hook


def base_config(storage_root: Path) -> dict[str, Any]:
    """The minimal configuration of docs/test-registry.md section 2."""
    return {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "127.0.0.1:0", "secret": "preflight-test-secret"},
    }


@dataclass
class RegistryProcess(LoopbackAddress):
    """One running ``docker-registry serve`` process."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    config_path: Path
    root: Path
    scheme: str = "http"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL; always by the child's PID."""
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=_STOP_TIMEOUT)


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        text = log_path.read_text(errors="replace")
        match = _LISTENING.search(text)
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise RegistryStartError(f"docker-registry exited with {process.returncode}:\n{text}")
        if time.monotonic() > deadline:
            stop_process(process)
            raise RegistryStartError(f"docker-registry did not report its port within 10 s:\n{text}")
        time.sleep(0.005)


def _wait_until_answers(
    url: str, context: ssl.SSLContext | None, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    """GET /v2/ until any HTTP status arrives (401 counts), ignoring proxy variables."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            with opener.open(f"{url}/v2/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                raise RegistryStartError(
                    f"{url}/v2/ never answered ({error}):\n" + log_path.read_text(errors="replace")
                ) from error
            time.sleep(0.005)


def start_registry(
    binary: str,
    workdir: Path,
    storage_root: Path,
    *,
    name: str = "registry",
    auth: dict[str, Any] | None = None,
    tls: dict[str, str] | None = None,
    ready_context: ssl.SSLContext | None = None,
    extra: dict[str, Any] | None = None,
) -> RegistryProcess:
    """Start a registry on 127.0.0.1:<kernel port>; return once GET /v2/ answers.

    ``auth`` becomes the config's ``auth`` section, ``tls`` its ``http.tls`` section
    (``{"certificate": path, "key": path}``); ``ready_context`` verifies the TLS readiness ping;
    ``extra`` adds top-level config sections (``validation``).
    The parent-death signal fires when the *thread* that calls this exits: call it from the main thread.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = base_config(storage_root)
    if auth is not None:
        config["auth"] = auth
    if tls is not None:
        config["http"]["tls"] = tls
    config.update(extra or {})
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            [binary, "serve", str(config_path)],
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd=workdir,
            preexec_fn=_pdeathsig_hook(),
        )
    try:
        port = _wait_for_port(process, log_path)
        scheme = "https" if tls is not None else "http"
        _wait_until_answers(f"{scheme}://127.0.0.1:{port}", ready_context, process, log_path)
    except BaseException:
        stop_process(process)
        raise
    return RegistryProcess(
        name=name,
        process=process,
        port=port,
        scheme=scheme,
        log_path=log_path,
        config_path=config_path,
        root=storage_root,
    )


def htpasswd_auth(workdir: Path, lines: str = HTPASSWD_ALICE) -> dict[str, Any]:
    """Write an htpasswd file and return the ``auth`` section for it (a missing file would be invented)."""
    path = workdir / "htpasswd"
    path.write_text(lines)
    return {"htpasswd": {"realm": BASIC_REALM, "path": str(path)}}


def token_auth(realm: str, service: str, issuer: str, bundle: Path) -> dict[str, Any]:
    """The ``auth.token`` section of docs/test-registry.md section 8 (``autoredirect`` left unset)."""
    if not bundle.is_file():
        raise FileNotFoundError(bundle)
    return {"token": {"realm": realm, "service": service, "issuer": issuer, "rootcertbundle": str(bundle)}}


# Handles the conftest fixtures yield.
@dataclass(frozen=True)
class OpenRegistry:
    """The open registry. Keys of the dicts are "repo:tag": ``digests`` -> manifest or index digest as
    pushed; ``children`` (indexes/lists only) -> {"linux/amd64": child manifest digest}; ``manifests`` ->
    the pushed images.Manifest (bytes, media type, children, blobs with sizes)."""

    url: str
    hostport: str
    port: int
    digests: dict[str, str]
    children: dict[str, dict[str, str]]
    manifests: dict[str, Manifest]
    log_path: Path
    root: Path
    process: RegistryProcess = field(repr=False)


@dataclass(frozen=True)
class BasicRegistry:
    url: str
    hostport: str
    port: int
    log_path: Path
    username: str = "alice"
    password: str = "s3cret"
    realm: str = BASIC_REALM


@dataclass(frozen=True)
class TokenRegistry:
    url: str
    hostport: str
    port: int
    realm: str
    service: str
    issuer: str
    log_path: Path


@dataclass(frozen=True)
class TLSRegistry:
    url: str
    hostport: str
    port: int
    ca_path: Path
    ssl_context: ssl.SSLContext
    log_path: Path
