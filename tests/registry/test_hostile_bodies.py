"""Unbounded bodies: a registry or token service that never stops sending, or sends a gzip bomb.

Each case runs the real CLI against a scripted loopback server (``hostile.py``) in a child whose
peak resident memory is read back (``tests/measure.py``; a bound, not a timing):
the answer must be a PF209 that names the size cap, never "did not answer in time" nor an
internal error, and the process must stay below 100 MB. The child also runs under a 3 GiB
address-space limit so that a regression fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from measure import run_cli

from .hostile import HostileRegistry, gzip_bomb

REPO = Path(__file__).resolve().parents[2]
PEAK_LIMIT_KB = 100 * 1000  # 100 MB


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    server = HostileRegistry().start()
    try:
        yield server
    finally:
        server.stop()


def measured_check(tmp: Path, dockerfile: str, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """The real CLI on a Dockerfile; (result, peak RSS in KiB of the preflight process)."""
    (tmp / "Dockerfile").write_text(dockerfile)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "NO_PROXY": "127.0.0.1",
        "PYTHONPATH": str(REPO),
    }
    done = run_cli(["check", ".", "--format", "json", "--no-cache", "--timeout", "8", *args], tmp, env)
    return subprocess.CompletedProcess(["preflight"], done.returncode, done.stdout, done.stderr), done.peak_kb


def only_finding(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 1, done.stderr[-2000:]
    findings = json.loads(done.stdout)["findings"]
    assert len(findings) == 1, findings
    return findings[0]


def test_the_bomb_is_what_the_issue_describes() -> None:
    bomb = gzip_bomb()
    assert 1_500_000 < len(bomb) < 2_500_000
    import zlib

    inflater = zlib.decompressobj(31)
    assert len(inflater.decompress(bomb[:200_000], 300_000_000)) > 150_000_000  # a tenth of it: > 150 MB


@pytest.mark.parametrize("mode", ["forever", "bomb"])
def test_token_answer_is_read_under_its_cap(tmp_path: Path, hostile: HostileRegistry, mode: str) -> None:
    hostile.token = mode
    done, peak = measured_check(tmp_path, f"FROM {hostile.hostport}/app:1.0\n")
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KiB"
    finding = only_finding(done)
    assert finding["rule"] == "PF209", finding
    assert "larger than 64 KiB" in str(finding["message"]), finding
    assert any(r.startswith("GET /token") for r in hostile.requests)


@pytest.mark.parametrize("where", ["manifest", "manifest-forever", "tags"])
def test_registry_answers_are_read_under_their_cap(tmp_path: Path, hostile: HostileRegistry, where: str) -> None:
    hostile.token = "ok"  # the token flow works; the registry's own answer is the attack
    if where == "tags":
        hostile.manifest, hostile.tags_bomb = "missing", True
    else:
        hostile.manifest = "forever" if where == "manifest-forever" else "bomb"
    done, peak = measured_check(tmp_path, f"FROM {hostile.hostport}/app:1.0\n")
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KiB"
    finding = only_finding(done)
    assert finding["rule"] == "PF209", finding
    assert re.search(r"larger than \d+ MiB", str(finding["message"])), finding


def test_a_401_body_without_end_is_cut(tmp_path: Path, hostile: HostileRegistry) -> None:
    """The 401 body httpx reads inside the auth flow: cut at 64 KiB, and the flow goes on."""
    hostile.token = "ok"
    hostile.challenge_forever = True
    # --platform: the first request is a GET (a HEAD's 401 has no body); later ones carry the token
    done, peak = measured_check(tmp_path, f"FROM {hostile.hostport}/app:1.0\n", "--platform", "linux/amd64")
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KiB"
    finding = only_finding(done)
    assert finding["rule"] == "PF201", finding  # the tag is missing; the listing was empty


def test_a_tag_list_of_millions_of_short_tags_stays_bounded(tmp_path: Path, hostile: HostileRegistry) -> None:
    """Every page under its cap, but many of them, each packed with tiny distinct tags."""
    hostile.token = "ok"
    hostile.tags = [f"t{i}" for i in range(3_000_000)]
    hostile.page_size = 150_000  # just under 2 MiB per page
    done, peak = measured_check(tmp_path, f"FROM {hostile.hostport}/app:1.0\n")
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KiB"
    finding = only_finding(done)
    assert finding["rule"] == "PF201", finding
