"""A real Docker Engine for tests (../shared/docs/engine.md): ``dockerd`` as a child process with
its socket, data root and exec root in a short temporary directory, vfs storage, no bridge and no
iptables; stopped with SIGTERM (it unmounts and removes its pid file before it exits).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .servers import _pdeathsig_hook

INSTALL_HINT = "apt-get install -y --no-install-recommends docker.io"
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 30.0


class DockerdStartError(RuntimeError):
    pass


@dataclass
class Dockerd:
    root: Path  # short temporary directory: socket, data root, exec root, log
    process: subprocess.Popen[bytes]
    docker: str  # the docker CLI

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self, docker_config: Path | None = None, **extra: str) -> dict[str, str]:
        """A clean environment for both docker and preflight: this engine, a docker config, no proxies."""
        config = docker_config or (self.root / "client")
        config.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(config),
            "DOCKER_BUILDKIT": "0",  # Debian's engine ships no buildx: the classic builder
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "XDG_CACHE_HOME": str(self.root / "cache"),
        }
        env.update(extra)
        return env

    def run(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.docker, *args],
            env=dict(env or self.env()),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def import_image(self, name: str, content: str = "local") -> None:
        """``docker import`` of a one-file tar as ``name``: an image built here, never pulled or pushed."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = content.encode()
            info = tarfile.TarInfo("etc/preflight-local")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        path = self.root / "import.tar"
        path.write_bytes(buffer.getvalue())
        self.run(["import", str(path), name])

    def log_text(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def tools() -> tuple[str, str] | None:
    dockerd, docker = shutil.which("dockerd"), shutil.which("docker")
    return (dockerd, docker) if dockerd and docker else None


def start_dockerd(
    settings: Mapping[str, object] | None = None, *, args: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> Dockerd:
    """Start an engine (``settings``: its daemon.json; ``args``: more dockerd flags, e.g. a TLS
    ``--host tcp://…``; ``environ``: more of its environment, e.g. the proxy its pulls use); raise
    DockerdStartError (with its log) when it does not answer in time on its socket."""
    found = tools()
    if found is None:
        raise DockerdStartError(f"dockerd and docker are not installed; install them with: {INSTALL_HINT}")
    dockerd, docker = found
    root = Path(tempfile.mkdtemp(prefix="pfd-", dir="/tmp"))  # short: socket paths are limited to 107 bytes
    (root / "daemon.json").write_text(json.dumps(dict(settings or {})), encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "NO_PROXY": "127.0.0.1,localhost"}
    env.update(environ or {})
    command = [
        dockerd,
        "--config-file", str(root / "daemon.json"),  # never the machine's /etc/docker/daemon.json
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--host", f"unix://{root / 'docker.sock'}",
        "--pidfile", str(root / "docker.pid"),
        "--storage-driver", "vfs",
        "--iptables=false", "--ip6tables=false", "--bridge=none",
        *args,
    ]  # fmt: skip
    with open(root / "dockerd.log", "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_pdeathsig_hook(), cwd=root
        )
    engine = Dockerd(root, process, docker)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            text = engine.log_text()
            engine.stop()
            raise DockerdStartError(f"dockerd exited with {process.returncode}:\n{text}")
        probe = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"], env=engine.env(),
                               capture_output=True, text=True, timeout=30)  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip():
            return engine
        if time.monotonic() > deadline:
            text = engine.log_text()
            engine.stop()
            raise DockerdStartError(f"dockerd did not answer within {_START_TIMEOUT:g} s:\n{text}")
        time.sleep(0.2)
