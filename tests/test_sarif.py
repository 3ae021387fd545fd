"""SARIF output against the OASIS 2.1.0 schema (with format checking) and GitHub's extra demands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from sarif_support import github_problems, make_validator, schema_errors

from preflight.config import Config
from preflight.engine import Rule, all_rules
from preflight.model import Finding, Fix, Level, Location, Report, Summary
from preflight.pipeline import check_paths
from preflight.report import pages, render, sarif

ROOT = Path(__file__).resolve().parents[1]

RULES = [
    Rule("PF001", "parse-error", "A file cannot be read or parsed.", Level.ERROR, None, tags=("input",)),
    Rule("PF102", "latest-tag", "An image uses the latest tag.", Level.WARNING, None, tags=("reproducibility",)),
    Rule("PF103", "unpinned-digest", "An image is not pinned by digest.", Level.OFF, None, tags=("security",)),
    Rule("PF201", "tag-not-found", "The tag does not exist.", Level.ERROR, None, True, ("registry",)),
]


@pytest.fixture(scope="module")
def validator() -> Any:
    return make_validator()


def make_report(root: Path, findings: tuple[Finding, ...]) -> Report:
    return Report(findings, Summary(files=3, images=len(findings)), str(root))


def many_findings(count: int) -> tuple[Finding, ...]:
    levels = (Level.ERROR, Level.WARNING, Level.NOTE)
    paths = ("Dockerfile", "my dir/Dockerfile", "sub/ünï côde/compose.yaml", "x%y/#hash?q.yml")
    out = []
    for n in range(count):
        loc = Location(paths[n % len(paths)], n + 1, (n % 7) + 1, n + 1, (n % 7) + 10)
        rule = RULES[n % len(RULES)].id
        out.append(Finding(rule, levels[n % 3], f"finding {n}: a, b; 100%", loc, f"img{n}:latest"))
    return tuple(out)


def sarif_of(report: Report, rules: Any = RULES, cwd: Path | None = None) -> dict[str, Any]:
    return json.loads(render(report, "sarif", rules=rules, cwd=cwd or Path(report.root)))


def test_format_checking_is_live(validator: Any, tmp_path: Path) -> None:
    doc = sarif_of(make_report(tmp_path, many_findings(1)))
    assert schema_errors(validator, doc) == []
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "my dir/Dockerfile"
    assert any("uri-reference" in e for e in schema_errors(validator, doc))
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert any("less than the minimum of 1" in e for e in schema_errors(validator, doc))


def test_empty_run(validator: Any, tmp_path: Path) -> None:
    doc = sarif_of(make_report(tmp_path, ()))
    assert schema_errors(validator, doc) == []
    assert github_problems(doc) == []
    run = doc["runs"][0]
    assert run["results"] == []
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["PF001", "PF102", "PF103", "PF201"]
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and doc["version"] == "2.1.0"
    assert run["automationDetails"] == {"id": "preflight/"} and run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "preflight" and re.fullmatch(r"\d+\.\d+\.\d+.*", driver["semanticVersion"])


def test_many_findings_with_awkward_paths(validator: Any, tmp_path: Path) -> None:
    findings = many_findings(400)
    doc = sarif_of(make_report(tmp_path, findings))
    assert schema_errors(validator, doc) == []
    assert github_problems(doc) == []
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]}
    assert uris == {
        "Dockerfile",
        "my%20dir/Dockerfile",
        "sub/%C3%BCn%C3%AF%20c%C3%B4de/compose.yaml",
        "x%25y/%23hash%3Fq.yml",
    }
    first = doc["runs"][0]["results"][0]
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "Dockerfile", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 10},
    }
    assert re.fullmatch(r"[0-9a-f]{16}", first["partialFingerprints"]["preflight/v1"])


def test_uri_is_relative_to_the_repository_root(tmp_path: Path) -> None:
    sub = tmp_path / "services" / "api"
    sub.mkdir(parents=True)
    report = make_report(tmp_path, (Finding("PF102", Level.WARNING, "latest", Location("my Dockerfile", 2, 6)),))
    result = sarif_of(report, cwd=sub)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "services/api/my%20Dockerfile"


def test_rule_descriptors(tmp_path: Path) -> None:
    many_tags = Rule("PF105", "tagged", "Many tags.", Level.NOTE, None, tags=tuple(f"t{i}" for i in range(30)))
    stray = Finding("PF999", Level.WARNING, "from a rule nobody registered", Location("Dockerfile"))
    doc = sarif_of(make_report(tmp_path, (stray,)), rules=[*RULES, many_tags])
    assert github_problems(doc) == []
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert list(rules) == ["PF001", "PF102", "PF103", "PF105", "PF201", "PF999"]
    latest = rules["PF102"]
    assert latest["name"] == "latest-tag"
    assert latest["shortDescription"] == {"text": "An image uses the latest tag."}
    assert latest["helpUri"] == "https://github.com/preflight-dev/preflight/blob/main/rules/PF102.md"
    assert latest["defaultConfiguration"] == {"level": "warning"}
    assert latest["properties"] == {
        "tags": ["reproducibility"],
        "precision": "very-high",
        "problem.severity": "warning",
    }
    assert rules["PF103"]["defaultConfiguration"] == {"level": "none", "enabled": False}
    assert rules["PF103"]["properties"]["security-severity"] == "2.0"
    assert rules["PF201"]["properties"]["precision"] == "high"
    assert rules["PF201"]["properties"]["problem.severity"] == "error"
    assert rules["PF105"]["properties"]["tags"] == [f"t{i}" for i in range(20)]
    assert rules["PF105"]["properties"]["problem.severity"] == "recommendation"
    assert rules["PF999"]["name"] == "PF999" and rules["PF999"]["help"]["text"]
    assert doc["runs"][0]["results"][0]["ruleIndex"] == 5


def test_help_comes_from_the_rule_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    page = (
        "# PF102 latest-tag\n\nAn image uses the latest tag.\n\n## Why\n\n`latest` moves:\n"
        "builds stop being reproducible.\n\nMore text.\n\n## Bad\n\n```dockerfile\n# expect: PF102\nFROM python:latest\n```\n"
    )
    (folder / "PF102.md").write_text(page, encoding="utf-8")
    monkeypatch.setattr(pages, "PAGE_DIRS", (tmp_path / "absent", folder))
    pages.rule_page.cache_clear()
    try:
        rules = sarif_of(make_report(tmp_path, ()))["runs"][0]["tool"]["driver"]["rules"]
    finally:
        pages.rule_page.cache_clear()
    latest = next(r for r in rules if r["id"] == "PF102")
    shown = page.replace("# expect: PF102\n", "").strip()
    assert latest["help"] == {"text": shown, "markdown": shown}
    assert latest["fullDescription"] == {"text": "`latest` moves: builds stop being reproducible."}
    assert pages.parse_page("no title\n") is None
    assert pages.rule_page("../etc/passwd") is None


def test_registered_rules_have_pages_in_sarif(validator: Any, tmp_path: Path) -> None:
    registered = all_rules()
    doc = sarif_of(make_report(tmp_path, ()), rules=registered)
    assert schema_errors(validator, doc) == [] and github_problems(doc) == []
    described = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in described] == [r.id for r in registered]
    for rule, descriptor in zip(registered, described, strict=False):
        assert descriptor["shortDescription"]["text"] == rule.summary
        page = pages.load_page(rule.id)  # that every rule has a page is the rule-page tests' business
        if page is not None:
            assert descriptor["help"]["markdown"] == page.help
            assert "# expect:" not in page.help and page.help.startswith(f"# {rule.id} {rule.name}\n")


def test_fixes_and_suggestions(validator: Any, tmp_path: Path) -> None:
    fixed = Finding(
        "PF201",
        Level.ERROR,
        "tag not found",
        Location("a b/Dockerfile", 1, 6, 1, 24),
        "python:3.12-slimm",
        ("3.12-slim",),
        (
            Fix('use "3.12-slim"', Location("a b/Dockerfile", 1, 13, 1, 24), "3.12-slim"),
            Fix("", Location("a b/Dockerfile", 1, 13), ""),
        ),
    )
    suggested = Finding("PF201", Level.ERROR, "tag not found", Location("Dockerfile", 2, 6), "x:1", ("1.0",))
    doc = sarif_of(make_report(tmp_path, (fixed, suggested)))
    assert schema_errors(validator, doc) == [] and github_problems(doc) == []
    first, second = doc["runs"][0]["results"]
    assert first["fixes"] == [
        {
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "a%20b/Dockerfile", "uriBaseId": "%SRCROOT%"},
                    "replacements": [
                        {
                            "deletedRegion": {"startLine": 1, "startColumn": 13, "endLine": 1, "endColumn": 24},
                            "insertedContent": {"text": "3.12-slim"},
                        }
                    ],
                }
            ],
            "description": {"text": 'use "3.12-slim"'},
        },
        {
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "a%20b/Dockerfile", "uriBaseId": "%SRCROOT%"},
                    "replacements": [{"deletedRegion": {"startLine": 1, "startColumn": 13}}],
                }
            ]
        },
    ]
    assert "fixes" not in second


def test_results_limit_keeps_the_most_severe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sarif, "MAX_RESULTS", 10)
    findings = many_findings(30)  # 10 errors, 10 warnings, 10 notes, interleaved
    results = sarif_of(make_report(tmp_path, findings))["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error"] * 10
    assert [r["message"]["text"] for r in results] == [f.message for f in findings if f.level is Level.ERROR]


def test_fingerprints_ignore_lines_but_not_images(tmp_path: Path) -> None:
    def fingerprint(line: int, image: str) -> str:
        f = Finding("PF102", Level.WARNING, "latest", Location("Dockerfile", line, 6), image)
        return sarif_of(make_report(tmp_path, (f,)))["runs"][0]["results"][0]["partialFingerprints"]["preflight/v1"]

    assert fingerprint(1, "python:latest") == fingerprint(7, "python:latest")
    assert fingerprint(1, "python:latest") != fingerprint(1, "node:latest")


def test_sarif_from_a_real_run(validator: Any, tmp_path: Path) -> None:
    """``preflight check`` as a process over real files, the repository root above the working directory."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    app = tmp_path / "my app"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM python:latest\nFROM ubuntu AS base\nFROM ${MISSING}\n", encoding="utf-8")
    (app / "compose.yaml").write_text("services:\n  web:\n    image: 'redis'\n", encoding="utf-8")
    (app / "broken.yaml").write_text("services: [\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "preflight", "check", "--offline", "--format", "sarif", "."]
    result = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert schema_errors(validator, doc) == [] and github_problems(doc) == []
    results = doc["runs"][0]["results"]
    seen = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results}
    expected = {("PF102", "my%20app/Dockerfile"), ("PF101", "my%20app/Dockerfile"), ("PF101", "my%20app/compose.yaml")}
    assert expected <= seen


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
