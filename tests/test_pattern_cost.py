"""Shell patterns (``${V#p}`` ... ``${V//p/r}``) cost at most a budget per file, counted in matching
steps (states visited per character), never in seconds.

Before: ``*a*a*a...`` against ``aaaa...`` visited n x m states: a 24 KB Dockerfile took 65 s, and 300
ARG lines with a 20-star pattern on one 4,000-character value (21 KB) took 47 s; each is now stopped
by the file's budget and reported where the value is used in an image reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import preflight.shellpattern as shellpattern
from preflight.dockerfile import parse_dockerfile
from preflight.interpolate import MATCH_STEPS, Budget, Dialect, ExpansionTooCostly, expand

BUILDKIT = Dialect.buildkit()
ROOT = Path(__file__).resolve().parents[1]


def stars(n: int) -> str:
    return "*a" * n


def many_lines(count: int = 300, size: int = 4000) -> str:
    lines = [f"ARG V={'a' * size}"]
    lines += [f"ARG W{i}=${{V##{stars(20)}*b}}" for i in range(count)]
    return "\n".join(lines) + "\nFROM alpine:3.19\n"


def one_pattern(size: int = 3000, used: bool = True) -> str:
    text = f"ARG V={'a' * size}\nARG W=${{V%%{stars(size)}}}\n"
    return text + ("FROM alpine:3.19${W}\n" if used else "") + "FROM alpine:3.19\n"


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every matching step taken, counted where the automaton advances (as the budget counts)."""
    taken = [0]
    real = shellpattern._step

    def counted(atoms, states, ch):  # type: ignore[no-untyped-def]
        taken[0] += len(states)
        if taken[0] > 20 * MATCH_STEPS:  # far past any budget: stop the old, unbounded code here
            raise AssertionError(f"more than {20 * MATCH_STEPS} matching steps")
        return real(atoms, states, ch)

    monkeypatch.setattr(shellpattern, "_step", counted)
    return taken


@pytest.mark.parametrize("text", [many_lines(), one_pattern()], ids=["many-lines", "one-pattern"])
def test_a_file_spends_at_most_its_budget(text: str, steps: list[int]) -> None:
    doc = parse_dockerfile(text, "Dockerfile")
    assert steps[0] <= Budget.for_text(text).left + 2 * len(text)
    assert not [p for p in doc.problems if "internal error" in p.message]


def test_one_expansion_has_a_budget_of_its_own() -> None:
    value = "a" * 3000
    with pytest.raises(ExpansionTooCostly):
        expand("${V%%" + stars(3000) + "}", {"V": value}.get, BUILDKIT)
    shared = Budget(1000)
    with pytest.raises(ExpansionTooCostly):
        for _ in range(1000):
            expand("${V##*a*b}", {"V": value}.get, BUILDKIT, budget=shared)


@pytest.mark.parametrize(
    "word,expected",
    [("${V#*/}", "b" * 65000), ("${V%%/*}", "a" * 500), ("${V//a/c}", "c" * 500 + "/" + "b" * 65000)],
)
def test_ordinary_patterns_on_the_longest_values_fit_one_budget(word: str, expected: str) -> None:
    value = "a" * 500 + "/" + "b" * 65000
    assert expand(word, {"V": value}.get, BUILDKIT, limit=1 << 20).text == expected


def cli(tmp_path: Path, text: str) -> tuple[int, list[dict[str, object]]]:
    (tmp_path / "Dockerfile").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "preflight", "check", ".", "--offline", "--format", "json"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def test_a_reference_using_a_too_costly_value_is_reported_at_its_line(tmp_path: Path) -> None:
    code, findings = cli(tmp_path, one_pattern(2000))
    assert code == 1
    assert [(f["rule"], f["line"]) for f in findings] == [("PF002", 3)], findings
    assert "too costly" in str(findings[0]["message"])


def test_a_too_costly_value_no_image_uses_is_no_finding(tmp_path: Path) -> None:
    code, findings = cli(tmp_path, one_pattern(2000, used=False))
    assert (code, findings) == (0, [])
