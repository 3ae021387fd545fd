"""The progress line: on stderr when it is a terminal, never in machine formats or when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, registry: Any, *args: str, tty: bool) -> tuple[int, str]:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {registry.hostport}/library/python:3.12-slim\nFROM {registry.hostport}/myorg/app:1.0.0\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"),
           "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT), "DOCKER_CONFIG": str(tmp_path / "d")}  # fmt: skip
    argv = [sys.executable, "-m", "preflight", "check", ".", "--no-cache", "--timeout", "20", *args]
    if not tty:
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stderr
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=60), b"".join(chunks).decode()
    finally:
        os.close(master)


def test_progress_on_a_terminal(registry: Any, tmp_path: Path) -> None:
    code, err = run(tmp_path, registry, tty=True)
    assert code == 0, err
    assert "2/2 references checked" in err and err.rstrip().endswith("\x1b[K")  # the line is cleared at the end


def test_no_progress_in_machine_formats_or_when_piped(registry: Any, tmp_path: Path) -> None:
    code, err = run(tmp_path, registry, "--format", "json", tty=True)
    assert code == 0 and "references checked" not in err
    code, err = run(tmp_path, registry, tty=False)
    assert code == 0 and err == ""
