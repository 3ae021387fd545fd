"""Inline suppressions: the directive grammar, and the findings a directive covers."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from preflight.config import Config
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
