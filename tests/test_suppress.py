"""Inline suppressions: the directive grammar, and the findings a directive covers."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from preflight.config import Config
from preflight.dockerfile import parse_dockerfile
from preflight.pipeline import check_paths
from preflight.suppress import Directive, parse_directive


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("# preflight: ignore=PF101,PF102", Directive(False, frozenset({"PF101", "PF102"}))),
        ("#preflight:ignore=pf102", Directive(False, frozenset({"PF102"}))),
        ("# preflight: ignore", Directive(False, frozenset({"*"}))),
        ("# preflight: ignore-file=PF103", Directive(True, frozenset({"PF103"}))),
        ("# preflight: ignore-file", Directive(True, frozenset({"*"}))),
        ("# preflight: ignore = PF101, PF102 ", Directive(False, frozenset({"PF101", "PF102"}))),
    ],
)
def test_directives(comment, expected):
    assert parse_directive(comment) == expected


@pytest.mark.parametrize(
    "comment", ["# hadolint ignore=DL3006", "# preflight", "# preflight: ignor=PF1", "# just text"]
)
def test_non_directives(comment):
    assert parse_directive(comment) is None


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


def findings(tmp_path: Path, files: dict[str, str], config: Config | None = None) -> list[tuple[str, str, int]]:
    write(tmp_path, files)
    report = check_paths(["."], config or Config(), cwd=tmp_path, environ={})
    return [(f.rule, f.location.path, f.location.line) for f in report.findings]


def test_prefixes_suppress_as_in_the_configuration(tmp_path: Path) -> None:
    got = findings(
        tmp_path,
        {
            "Dockerfile": "# preflight: ignore=PF10\nFROM python:latest\n# preflight: ignore=pf1\nFROM redis\n",
            "compose.yaml": "services:\n  a:\n    image: redis  # preflight: ignore=PF10\n",
        },
    )
    assert got == []


def test_unknown_rule_and_unused_suppressions_are_pf004_notes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": (
                "# preflight: ignore=PF999\n"  # no such rule
                "FROM python:3.12\n"
                "# preflight: ignore=PF102\n"  # nothing to suppress
                "FROM python:3.13\n"
                "# preflight: ignore=PF102\n"  # used
                "FROM python:latest\n"
                "# preflight: ignore=PF201\n"  # a registry rule, offline run: not judged
                "FROM python:3.11\n"
                "# preflight: ignore-file=PF103\n"  # PF103 is off: not judged
                "# preflight: ignore=PF101\n"  # nothing follows it
            ),
            "compose.yaml": "services:\n  a:\n    image: redis:7  # preflight: ignore=PF101\n",
        },
    )
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    got = [(f.rule, f.level.value, f.location.path, f.location.line, f.location.column) for f in report.findings]
    assert got == [
        ("PF004", "note", "Dockerfile", 1, 1),
        ("PF004", "note", "Dockerfile", 3, 1),
        ("PF004", "note", "Dockerfile", 10, 1),
        ("PF004", "note", "compose.yaml", 3, 21),
    ]
    messages = [f.message for f in report.findings]
    assert "PF999" in messages[0] and "not a preflight rule" in messages[0]
    assert messages[1] == "suppression suppresses nothing: no PF102 finding on line 4; remove it"
    assert "no instruction follows it" in messages[2]
    off = check_paths(["."], Config(ignore=("PF004",)), cwd=tmp_path, environ={})
    assert [f.rule for f in off.findings] == []


def test_a_dockerfile_read_twice_counts_a_suppression_used_by_either_reading(tmp_path: Path) -> None:
    got = findings(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  a:\n    build: {context: ., args: {TAG: latest}}\n"
                "  b:\n    build: {context: ., args: {TAG: '3.12'}}\n"
            ),
            "Dockerfile": "ARG TAG\n# preflight: ignore=PF102\nFROM python:${TAG}\n",
        },
    )
    assert got == []


def test_registry_rule_suppressions_are_judged_only_with_an_answer_for_every_image() -> None:
    from preflight.engine import RuleContext, Selection, evaluate
    from preflight.facts import ImageFacts, Status
    from preflight.model import Summary
    from preflight.resolve import resolve_documents

    text = "# preflight: ignore=PF201\nFROM python:3.12\n"
    doc = parse_dockerfile(text, "Dockerfile")
    canonical = "docker.io/library/python:3.12"

    def pf004(status: Status | None) -> list[int]:
        facts = {canonical: ImageFacts(canonical, status, "registry-1.docker.io")} if status else {}
        report = evaluate(resolve_documents([doc]), Selection(), RuleContext(facts=facts), Summary(offline=False))
        return [f.location.line for f in report.findings if f.rule == "PF004"]

    assert pf004(None) == []  # offline: not judged
    assert pf004(Status.NETWORK_REFUSED) == []  # unreachable: not judged
    assert pf004(Status.NOT_CHECKED) == []
    assert pf004(Status.OK) == [1]  # the registry answered and the tag exists: unused
    assert pf004(Status.TAG_MISSING) == []  # used: PF201 suppressed
