"""Differential tests: preflight's Dockerfile reader against BuildKit's own parser.

BuildKit's parser comes from the PyPI package ``dockerfile`` (Go code; wheels for linux x86_64
only). The comparison logic lives in bench/buildkit_agreement.py, which also prints the figure.
Lines: BuildKit reports the *start* line of an instruction; the reader's instructions are
compared on that line, and each FROM image use must then lie inside its instruction's lines.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sharedfiles import CORPUS

from preflight.dockerfile import parse_dockerfile, scan
from preflight.model import UseKind

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "dockerfile"

if platform.machine() not in ("x86_64", "AMD64") or not sys.platform.startswith("linux"):
    pytest.skip("BuildKit's parser (PyPI 'dockerfile') ships for linux x86_64 only", allow_module_level=True)
try:
    import dockerfile  # noqa: F401
except ImportError:  # on x86_64 Linux it is part of the test extra: never hide its absence
    pytest.fail("the 'dockerfile' package is missing: pip install -e '.[test]'", pytrace=False)

_spec = importlib.util.spec_from_file_location("buildkit_agreement", ROOT / "bench" / "buildkit_agreement.py")
assert _spec is not None and _spec.loader is not None
agreement = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agreement)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside this checkout")
def test_corpus_agrees_with_buildkit():
    compared, rejected, problems = 0, 0, []
    for path in agreement.corpus_dockerfiles(CORPUS):
        text = agreement.read(path)
        try:
            problem = agreement.disagreement(text)
        except agreement.Rejected:
            rejected += 1
            continue
        compared += 1
        if problem is not None:
            problems.append(f"{path.relative_to(CORPUS)}: {problem}")
    print(f"{compared} files compared, {compared - len(problems)} agree, {rejected} rejected by BuildKit")
    assert compared > 1000
    assert problems == [], "\n".join(problems)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside this checkout")
def test_from_uses_sit_inside_their_instruction():
    """Every FROM image use is the first argument of a FROM instruction, on one of its lines."""
    for path in agreement.corpus_dockerfiles(CORPUS):
        text = agreement.read(path)
        spans = [
            (i.start_line, i.end_line, agreement._words(i.args)[0])
            for i in scan(text).instructions
            if i.cmd.lower() == "from" and agreement._words(i.args)
        ]
        for use in parse_dockerfile(text, str(path)).uses:
            if use.kind is UseKind.FROM:
                assert any(a <= use.location.line <= b and use.written == w for a, b, w in spans), (path, use)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.Dockerfile")))
def test_golden_fixtures_agree_with_buildkit(name: str):
    text = (DATA / name).read_bytes().decode("utf-8")
    assert agreement.disagreement(text) is None


_FRAGMENTS = [
    "FROM alpine:3.20",
    "from busybox AS b",
    "FROM --platform=$BUILDPLATFORM golang:1.22 AS build",
    "FROM \\",
    "  alpine",
    "FROM a \\   ",
    "# a comment",
    "  # indented comment",
    "",
    "   ",
    "\\",
    "RUN <<EOF",
    "RUN <<-EOT sh",
    'COPY <<a <<"b" /dst',
    "RUN 2<<'X' cat",
    "EOF",
    "\tEOT",
    "EOT",
    "a",
    "b",
    "X",
    "RUN echo hi \\",
    "RUN echo \\\\",
    'RUN ["sh", "-c", "<<EOF"]',
    "ONBUILD RUN <<EOF",
    "CMD <<EOF",
    "ARG A=1",
    "ARG B",
    "COPY --from=build /a /b",
    "COPY --from='quoted img' /a /b",
    "RUN --mount=type=cache,from=c,target=/d \\",
    "  --mount=from=x,target=/y true",
    "RUN --flag -- <<EOF",
    "FROM x `",
    "# escape=`",
    "# syntax=docker/dockerfile:1",
    "WORKDIR /x\r",
    "FROM\talpine\tAS\tt",
    "RUN echo <<EOF; echo done",
    "COPY <<EOF /x",
    "HEALTHCHECK CMD true",
    "RUN <<'E F'",
    "E F",
    "RUN <<$X",
    "$X",
    "RUN cat <<EOF>out",
    "RUN echo '\\",
    'RUN "<<EOF"',
    "RUN x<<EOF",
    "RUN <<EOF <<EOF2",
    "EOF2",
    "RUN ['x'] <<EOF",
    "ONBUILD  COPY <<a /b",
    "RUN `",
    "#!/bin/sh",
    "# check=skip=all",
    "RUN echo ${A:-b c} <<EOF",
    "RUN echo '${' <<EOF",
    'RUN <<-"EOF"',
    "\t\tEOF",
    "  # comment \\",
]


@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=14), st.sampled_from(["\n", "\r\n"]))
@settings(max_examples=400, deadline=None)
def test_generated_dockerfiles_agree_with_buildkit(lines: list[str], newline: str):
    text = newline.join(lines) + newline
    # The oracle (PyPI `dockerfile` 3.4.0) predates BuildKit's `# check=` directive (BuildKit 0.14):
    # it ends the directive block there, so an `# escape=` after it is a comment to the oracle and a
    # directive to BuildKit today, and to preflight. Texts with both are not comparable.
    assume(not (re.search(r"^#\s*check\s*=", text, re.M | re.I) and re.search(r"^#\s*escape\s*=", text, re.M | re.I)))
    try:
        problem = agreement.disagreement(text)
    except agreement.Rejected:
        return
    assert problem is None, text
