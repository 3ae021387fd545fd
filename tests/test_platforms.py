"""Which platforms an image use must provide (PF207 and the registry lookups)."""

from __future__ import annotations

import pytest

from preflight.dockerfile import parse_dockerfile
from preflight.platforms import required_platforms

WANTED = ("linux/amd64", "linux/arm64")


def test_own_platform_wins_and_variables_pin_without_a_value():
    doc = parse_dockerfile(
        "# syntax=docker/dockerfile:1.7\n"
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
        "FROM --platform=linux/arm/v7 alpine:3.20 AS arm\n"
        "FROM debian:12\n"
        "COPY --from=nginx:1.27 /a /b\n",
        "Dockerfile",
    )
    got = {u.written: (u.platform_pinned, required_platforms(u, WANTED)) for u in doc.uses}
    assert got == {
        "docker/dockerfile:1.7": (False, ()),  # the frontend runs on the build machine
        "golang:1.22": (True, ()),
        "alpine:3.20": (True, ("linux/arm/v7",)),
        "debian:12": (False, WANTED),
        "nginx:1.27": (False, WANTED),
    }


def test_compose_platform_pins(tmp_path):
    from preflight.compose import load_compose

    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  a:\n    image: redis:7\n    platform: linux/s390x\n  b:\n    image: redis:7.2\n")
    (doc,) = load_compose(f, lambda p: p.name, {})
    got = {u.written: required_platforms(u, WANTED) for u in doc.uses}
    assert got == {"redis:7": ("linux/s390x",), "redis:7.2": WANTED}


@pytest.mark.parametrize(
    ("available", "wanted", "ok"),
    [
        (["linux/386"], "linux/amd64", True),  # containerd's Only: amd64 also takes 386
        (["linux/amd64"], "linux/386", False),
        (["linux/arm/v6"], "linux/arm/v7", True),
        (["linux/arm/v5"], "linux/arm", True),
        (["linux/arm/v7"], "linux/arm/v6", False),
        (["linux/arm/v7"], "linux/arm64", True),  # arm64 runs 32-bit arm/v8 and below
        (["linux/arm64/v8"], "linux/aarch64", True),
        (["linux/amd64/v3"], "linux/amd64", True),
        (["windows/amd64"], "linux/amd64", False),
        (["linux/s390x"], "linux/amd64", False),
    ],
)
def test_provides_like_containerd(available, wanted, ok):
    from preflight.platforms import provides

    assert provides(available, wanted) is ok
