"""Defects found in review, each reproduced with real files before its fix."""

from __future__ import annotations

import json
from pathlib import Path

from preflight.config import Config
from preflight.engine import all_rules
from preflight.pipeline import check_paths
from preflight.report import render


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_sarif_fingerprints_distinguish_repeated_findings_like_gitlab(tmp_path: Path) -> None:
    # A multi-stage Dockerfile with the same base twice: two findings, two alerts. Equal
    # partialFingerprints make GitHub code scanning merge them into one alert.
    write(tmp_path, {"Dockerfile": "FROM python:latest AS a\nRUN true\nFROM python:latest AS b\n"})
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [f.location.line for f in report.findings] == [1, 3]
    sarif = json.loads(render(report, "sarif", rules=all_rules(), cwd=tmp_path))
    prints = [r["partialFingerprints"]["preflight/v1"] for r in sarif["runs"][0]["results"]]
    assert len(prints) == 2 and len(set(prints)) == 2
    gitlab = json.loads(render(report, "gitlab", rules=all_rules(), cwd=tmp_path))
    assert len({i["fingerprint"] for i in gitlab}) == 2


def test_suppression_applies_to_missing_built_dockerfile(tmp_path: Path) -> None:
    # A build context that is a submodule not checked out, or generated: README says an
    # end-of-line ignore covers that line, a comment line the next one, ignore-file the file.
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n"
                "  app:\n"
                "    # preflight: ignore=PF001\n"
                "    build: ./vendor/app\n"
                "  other:\n"
                "    build: ./vendor/other  # preflight: ignore=PF001\n"
                "  kept:\n"
                "    build: ./vendor/kept\n"
            ),
            "sub/compose.yaml": "# preflight: ignore-file=PF001\nservices:\n  x:\n    build: ./gone\n",
        },
    )
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.path, f.location.line) for f in report.findings] == [("PF001", "compose.yaml", 8)]
