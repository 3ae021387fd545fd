"""Differential test: preflight's FROM images against dockerfile-parse's, on every platform.

BuildKit's own parser (tests/test_buildkit_oracle.py) ships wheels for linux x86_64 only;
dockerfile-parse is pure Python, so this comparison also runs where BuildKit's wheel does not
install. dockerfile-parse reads heredoc bodies as instructions and does not honour ``# escape=``,
so it is an oracle only for files without either (bench/dockerfile_parse_agreement.py prints the
figures). The comparison logic lives in that script.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sharedfiles import CORPUS

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location(
    "dockerfile_parse_agreement", ROOT / "bench" / "dockerfile_parse_agreement.py"
)
assert _spec is not None and _spec.loader is not None
agreement = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agreement)

# Files where dockerfile-parse is wrong and BuildKit agrees with preflight (checked by hand and by
# tests/test_buildkit_oracle.py): a comment line inside a FROM continuation (`FROM\` / `# c` / `image4`).
KNOWN_DOCKERFILE_PARSE_ERRORS = {
    "renovatebot__renovate/lib/modules/manager/dockerfile/__fixtures__/2.Dockerfile",
}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside this checkout")
def test_corpus_from_images_agree_with_dockerfile_parse() -> None:
    compared, differ = 0, set()
    for path in agreement.corpus_dockerfiles(CORPUS):
        text = agreement.read(path)
        if not agreement.in_oracle_domain(text):
            continue
        compared += 1
        if agreement.dockerfile_parse_images(text) != agreement.preflight_images(text):
            differ.add(path.relative_to(CORPUS).as_posix())
    assert compared > 1000
    assert differ == KNOWN_DOCKERFILE_PARSE_ERRORS


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine:3.19\n",
        "ARG V=3.12\nFROM python:${V}-slim AS build\nFROM build\n",
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nRUN go build\nFROM scratch\nCOPY --from=b /x /x\n",
        "FROM \\\n  debian:12 \\\n  AS base\n",
        "# comment\n\n  from  ubuntu:24.04\n",
    ],
)
def test_small_files_agree_with_dockerfile_parse(text: str) -> None:
    assert agreement.dockerfile_parse_images(text) == agreement.preflight_images(text)


def test_heredoc_bodies_are_not_instructions() -> None:
    """Why dockerfile-parse is not the reader: it takes a heredoc body's `FROM` for an instruction."""
    text = "FROM alpine:3.19\nRUN <<EOF\nFROM evil.example/x:1\nEOF\n"
    assert agreement.preflight_images(text) == [(1, "alpine:3.19")]
    assert (3, "evil.example/x:1") in agreement.dockerfile_parse_images(text)
