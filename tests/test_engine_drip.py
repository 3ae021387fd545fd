"""The engine step's bound holds against an engine that answers a byte at a time: every read
stays under httpx's per-read timeout, so only a deadline checked between chunks ends it.

Before: an image answer dripping one byte every 0.2 s (its cap is 4 MiB) held
``preflight images --missing-locally`` for days; now the step ends at its bound (5 s) and the
image reads as not held."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # waits out a 5 s bound: out of the fast loop, always in CI

ROOT = Path(__file__).resolve().parents[1]


def _serve(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        reader = conn.makefile("rb")
        while not stop.is_set():
            line = reader.readline()
            if not line:
                return
            path = line.split()[1].decode()
            while reader.readline() not in (b"\r\n", b""):
                pass
            if path.endswith("/_ping"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Length: 2\r\n\r\nOK")
            elif path.endswith("/info"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                try:
                    while not stop.is_set():
                        conn.sendall(b"1\r\n \r\n")
                        time.sleep(0.2)
                except OSError:
                    return


@pytest.fixture
def dripping_engine(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_a_dripping_engine_is_given_up_at_the_bound(tmp_path: Path, dripping_engine: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text("FROM python:3.12\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "preflight", "images", "--missing-locally", "--engine", f"unix://{dripping_engine}"]
    try:
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("preflight was still reading the engine's answer after 120 s")
    assert "docker.io/library/python:3.12" in done.stdout, done.stdout + done.stderr
