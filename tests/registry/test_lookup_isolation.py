"""One reference's failure is that reference's finding: never a crash, never the others' loss.

A host that distribution/reference accepts but no URL library can connect to is PF002 at its line
(issue 8, item 8); any unexpected error while one reference is looked up is that reference's PF209,
and every other reference is still reported. Real CLI against the real registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight import cli as cli_module
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings, batch, resolve

from .test_e2e_registry import by_line, run_check


def test_unusable_hosts_are_pf002_and_the_other_references_are_still_checked(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dockerfile = (
        "FROM 0251.0376.0251.0376:80/a:1\n"  # 1: httpx raised InvalidURL here: exit 2, no report
        f"FROM {registry.hostport}/library/python:3.12-slimm\n"  # 2: a typo that must still be found
        "FROM xn--zz.example/a:1\n"  # 3: idna refused it (IDNAError)
        "FROM localhost:99999/a:1\n"  # 4: port out of range
    )
    code, report, stderr = run_check(tmp_path, dockerfile, {"timeout": 10})
    assert code == 1, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    rules = {(f["line"], f["rule"]) for f in report["findings"]}
    assert {(1, "PF002"), (2, "PF201"), (3, "PF002"), (4, "PF002")} <= rules
    first = next(f["message"] for f in report["findings"] if f["line"] == 1 and f["rule"] == "PF002")
    assert "0251.0376.0251.0376" in first and "169.254.169.254" in first
    assert report["summary"]["references_checked"] == 1  # the bad hosts were never looked up


def _in_process(tmp: Path, dockerfile: str, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, dict[str, Any], str]:  # type: ignore[no-untyped-def]
    (tmp / "Dockerfile").write_text(dockerfile)
    (tmp / ".preflight.yaml").write_text(json.dumps({"timeout": 10}))
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("HOME", str(tmp))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
    monkeypatch.delenv("PREFLIGHT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["check", ".", "--format", "json", "--config", ".preflight.yaml", "--no-cache"])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), json.loads(out), err


def test_a_host_the_url_library_refuses_at_planning_is_that_references_pf209(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: if the host check misses a host that httpx refuses, the lookup plan for
    that registry fails alone (before: InvalidURL ended the run with exit 2 and no report)."""
    import preflight.resolve

    monkeypatch.setattr(preflight.resolve, "host_problem", lambda domain: None)
    dockerfile = f"FROM 0251.0376.0251.0376:80/a:1\nFROM {registry.hostport}/library/python:3.12-slimm\n"
    code, report, err = _in_process(tmp_path, dockerfile, monkeypatch, capsys)
    assert code == 1, err
    lines = by_line(report)
    assert [rule for rule, _ in lines[1]] == ["PF209"] and "internal error InvalidURL" in lines[1][0][1]
    assert "Invalid IPv4" not in lines[1][0][1]  # the exception's own text is not shown
    assert [rule for rule, _ in lines[2]] == ["PF201"]
    assert "Traceback" not in err


def test_an_unexpected_error_in_one_lookup_is_that_references_pf209(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    real = batch.probe_with_fallback

    async def flaky(run, endpoint, ref, *args):  # type: ignore[no-untyped-def]
        if ref.path == "library/pyhton":
            raise KeyError("a bug")
        return await real(run, endpoint, ref, *args)

    monkeypatch.setattr(batch, "probe_with_fallback", flaky)
    r = registry.hostport
    dockerfile = f"FROM {r}/library/pyhton:3.12\nFROM {r}/library/python:3.12-slimm\nFROM {r}/library/pyhton:3.11\n"
    code, report, err = _in_process(tmp_path, dockerfile, monkeypatch, capsys)
    assert code == 1, err
    lines = by_line(report)
    # each failed reference has its own finding (PF209 is otherwise one per host)
    assert [rule for rule, _ in lines[1]] == ["PF209"] and [rule for rule, _ in lines[3]] == ["PF209"]
    assert "was not checked" in lines[1][0][1] and "KeyError" in lines[1][0][1] and "a bug" not in lines[1][0][1]
    assert [rule for rule, _ in lines[2]] == ["PF201"]
    assert report["summary"]["not_checked"] == 2


def test_internal_errors_are_not_cached(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    async def broken(*_args):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    from preflight.config import Config

    settings = Settings(Config(timeout=10), {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c")})
    lookup = Lookup(ImageRef.parse(f"{registry.hostport}/library/python:3.12-slim"))
    monkeypatch.setattr(batch, "probe_with_fallback", broken)
    first = resolve([lookup], settings)
    assert next(iter(first.facts.values())).status.value == "internal_error"
    monkeypatch.undo()
    second = resolve([lookup], settings)
    assert next(iter(second.facts.values())).status.value == "ok" and second.cache_hits == 0
