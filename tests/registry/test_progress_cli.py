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
    assert "2 of 2 registry lookups finished" in err and err.rstrip().endswith("\x1b[K")  # cleared at the end


def test_no_progress_in_machine_formats_or_when_piped(registry: Any, tmp_path: Path) -> None:
    code, err = run(tmp_path, registry, "--format", "json", tty=True)
    assert code == 0 and "lookups finished" not in err
    code, err = run(tmp_path, registry, tty=False)
    assert code == 0 and err == ""


def test_without_a_terminal_a_slow_registry_gets_progress_lines_and_counts_agree(tmp_path: Path) -> None:
    """CI logs: a registry that accepts connections and never answers is named on stderr while the
    run waits; the summary then counts it as not checked, and no request as answered."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # kept open, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        (tmp_path / "Dockerfile").write_text(f"FROM 127.0.0.1:{port}/team/app:1.0\n")
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"),
               "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT), "DOCKER_CONFIG": str(tmp_path / "d")}  # fmt: skip
        argv = [sys.executable, "-m", "preflight", "check", ".", "--no-cache", "--timeout", "6"]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    lines = [line for line in done.stderr.splitlines() if "lookups finished" in line]
    assert lines and all(f"0 of 1 registry lookups finished, waiting on 127.0.0.1:{port}" in ln for ln in lines)
    assert "\x1b" not in done.stderr and "\r" not in done.stderr  # plain lines for a log
    assert "0 of 1 reference checked, 1 not checked (see PF208/PF209); 0 HTTP requests answered" in done.stdout
