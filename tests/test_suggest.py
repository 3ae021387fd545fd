"""Near-match ranking for "did you mean" (preflight.suggest) and platform matching."""

from __future__ import annotations

import random

import pytest

from preflight.platforms import normalize_platform, provides
from preflight.suggest import near_matches, osa_distance

PYTHON_TAGS = ["3.12-slim", "3.12-slim-bookworm", "latest", "3.11", "3.12", "3.12-alpine", "3.13-slim", "3.11-slim"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("abc", "", 3),
        ("slim", "slmi", 1),
        ("3.12-slimm", "3.12-slim", 1),
        ("kitten", "sitting", 3),
        ("ca", "abc", 3),
    ],
)
def test_osa_distance(a: str, b: str, expected: int) -> None:
    assert osa_distance(a, b) == expected
    assert osa_distance(b, a) == expected


@pytest.mark.parametrize(
    ("wanted", "first"),
    [
        ("3.12-slimm", "3.12-slim"),
        ("3.12-slm", "3.12-slim"),
        ("3.12-slim-bookwrm", "3.12-slim-bookworm"),
        ("lates", "latest"),
        ("LATEST", "latest"),
        ("3.12-alpin", "3.12-alpine"),
        ("3.13slim", "3.13-slim"),
    ],
)
def test_best_match_comes_first(wanted: str, first: str) -> None:
    assert near_matches(wanted, PYTHON_TAGS)[0] == first


def test_order_does_not_depend_on_the_registry_listing_order() -> None:
    expected = near_matches("3.12-slimm", PYTHON_TAGS)
    shuffled = PYTHON_TAGS[:]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert near_matches("3.12-slimm", shuffled) == expected


def test_limit_unrelated_and_self() -> None:
    tags = [f"1.{i}" for i in range(30)]
    assert len(near_matches("1.3x", tags)) == 5
    assert near_matches("bookworm", PYTHON_TAGS) == ()
    assert "3.12" not in near_matches("3.12", PYTHON_TAGS)
    assert near_matches("x", PYTHON_TAGS, limit=0) == ()


def test_prefix_at_a_component_boundary_is_suggested_after_close_edits() -> None:
    found = near_matches("3.12-slim-bullseye", PYTHON_TAGS)
    assert found[0] == "3.12-slim"  # shares the "3.12-slim" component prefix
    assert "latest" not in found


def test_repository_names() -> None:
    assert near_matches("acme/pyhton", ["acme/python", "acme/worker", "library/python"])[0] == "acme/python"


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/i386", "linux/386"),
        ("macos/arm64", "darwin/arm64"),
    ],
)
def test_normalize_platform(text: str, normal: str) -> None:
    assert normalize_platform(text) == normal


def test_provides() -> None:
    assert provides(("linux/amd64", "linux/arm64"), "linux/aarch64")
    assert provides(("linux/arm64/v8",), "linux/arm64")
    assert provides(("linux/arm/v7",), "linux/arm")
    assert provides(("linux/arm/v6",), "linux/arm")  # arm means arm/v7, which runs v6 (containerd Only)
    assert not provides(("linux/arm/v8",), "linux/arm")  # a newer variant does not run on v7
    assert provides(("linux/amd64/v3",), "linux/amd64")  # no variant asked: any variant
    assert not provides(("linux/amd64",), "linux/arm64")
    assert not provides((), "linux/amd64")
