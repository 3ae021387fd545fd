from __future__ import annotations

import pytest

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
