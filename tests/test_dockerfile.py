"""The Dockerfile reader: golden cases with exact positions, and the whole corpus without errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sharedfiles import CORPUS

from preflight.config import Config
from preflight.dockerfile import parse_dockerfile, scan
from preflight.model import Document, UseKind
from preflight.pipeline import check_paths
from preflight.platforms import normalize_platform
from preflight.textfile import read_text

DATA = Path(__file__).resolve().parent / "data" / "dockerfile"


def read(text: str, **kwargs: object) -> Document:
    return parse_dockerfile(text, "Dockerfile", **kwargs)  # type: ignore[arg-type]


def rows(doc: Document) -> list[tuple[str, int, int, str, str | None]]:
    return [(u.kind.value, u.location.line, u.location.column, u.written, u.resolved) for u in doc.uses]


def problems(doc: Document) -> list[tuple[str, int, int]]:
    return [(p.rule, p.location.line, p.location.column) for p in doc.problems]


def one(text: str, **kwargs: object):
    doc = read(text, **kwargs)
    assert len(doc.uses) == 1, doc.uses
    return doc.uses[0]


# ------------------------------------------------------------------ references and variables


def test_registry_port_is_part_of_the_reference():
    use = one("FROM localhost:5000/foo\n")
    assert rows(read("FROM localhost:5000/foo\n")) == [("from", 1, 6, "localhost:5000/foo", "localhost:5000/foo")]
    assert (use.location.end_line, use.location.end_column) == (1, 24)


def test_variable_in_the_registry_part():
    doc = read("ARG REG=r.example.com\nFROM $REG:8099/x/y:1.0\n")
    assert rows(doc) == [("from", 2, 6, "$REG:8099/x/y:1.0", "r.example.com:8099/x/y:1.0")]
    assert doc.problems == ()


def test_arg_default_in_tag():
    assert rows(read("ARG TAG=latest\nFROM ruby:${TAG}\n")) == [("from", 2, 6, "ruby:${TAG}", "ruby:latest")]


def test_default_inside_the_reference():
    assert rows(read("FROM ${BASE_IMAGE:-debian:9}\n")) == [("from", 1, 6, "${BASE_IMAGE:-debian:9}", "debian:9")]


def test_build_arg_overrides_declared_default():
    text = "ARG BASE_IMAGE=debian:9\nFROM ${BASE_IMAGE}\n"
    assert one(text).resolved == "debian:9"
    assert one(text, build_args={"BASE_IMAGE": "debian:12"}).resolved == "debian:12"


def test_build_arg_without_declaration_is_not_visible_in_from():
    use = one("FROM alpine:$TAG\n", build_args={"TAG": "3.20"})
    assert (use.resolved, use.unresolved) == (None, ("TAG",))


def test_declared_arg_without_default_needs_a_build_arg():
    text = "ARG TAG\nFROM alpine:${TAG}\n"
    use = one(text)
    assert (use.resolved, use.unresolved) == (None, ("TAG",))
    assert one(text, build_args={"TAG": "3.20"}).resolved == "alpine:3.20"


def test_undeclared_variable_is_unresolved_not_guessed():
    use = one("FROM python:$PY_VERSION-slim\n")
    assert (use.written, use.resolved, use.unresolved) == ("python:$PY_VERSION-slim", None, ("PY_VERSION",))


def test_defaults_may_use_earlier_args_and_report_the_missing_root():
    assert one("ARG A=1\nARG B=x:$A\nFROM $B\n").resolved == "x:1"
    use = one("ARG REGISTRY\nARG IMAGE=$REGISTRY/app:1\nFROM $IMAGE\n")
    assert (use.resolved, use.unresolved) == (None, ("REGISTRY",))
    assert (
        one("ARG REGISTRY\nARG IMAGE=$REGISTRY/app:1\nFROM $IMAGE\n", build_args={"REGISTRY": "r.io"}).resolved
        == "r.io/app:1"
    )


def test_self_referencing_arg_does_not_loop():
    use = one("ARG A=$A\nFROM alpine:$A\n")
    assert (use.resolved, use.unresolved) == (None, ("A",))
    assert one("ARG A=1\nARG A=${A}.2\nFROM alpine:$A\n").resolved == "alpine:1.2"


def test_redeclared_global_arg_without_default_keeps_its_value():
    assert one("ARG V=3.20\nARG V\nFROM alpine:$V\n").resolved == "alpine:3.20"


def test_stage_args_are_not_visible_in_from():
    use = read("FROM alpine\nARG T=1\nFROM busybox:$T\n").uses[1]
    assert (use.resolved, use.unresolved) == (None, ("T",))


def test_required_variable_message():
    use = one("FROM alpine:${TAG:?set-TAG}\n")
    assert (use.resolved, use.var_errors) == (None, ("TAG: set-TAG",))


def test_quotes_are_removed_like_buildkit():
    assert rows(read('ARG IMG="alpine:3.20"\nFROM "$IMG"\n')) == [("from", 2, 6, '"$IMG"', "alpine:3.20")]


def test_predefined_platform_args_are_visible_in_from():
    assert one("FROM alpine:$TARGETARCH\n").resolved == "alpine:amd64"
    assert one("FROM alpine:$TARGETARCH\n", target_platform="linux/arm64").resolved == "alpine:arm64"
    assert (
        one("FROM alpine:${TARGETVARIANT:-none}-$BUILDOS\n", target_platform="linux/arm/v7").resolved
        == "alpine:v7-linux"
    )
    assert one("ARG TARGETARCH=riscv64\nFROM alpine:$TARGETARCH\n").resolved == "alpine:riscv64"
    assert (
        one("FROM alpine:$TARGETPLATFORM-$BUILDARCH\n", target_platform="Linux/aarch64/v8").resolved
        == "alpine:linux/arm64-amd64"
    )


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux/armhf", "linux/arm/v7 arm v7"),
        ("linux/armel", "linux/arm/v6 arm v6"),
        ("linux/i686", "linux/386 386 -"),
        ("linux/arm/7", "linux/arm/v7 arm v7"),
        ("linux/amd64/v1", "linux/amd64 amd64 -"),
        ("macos/x86_64", "darwin/amd64 amd64 -"),
        ("linux", "linux/amd64 amd64 -"),  # unusable: the default
        ("linux//v7", "linux/amd64 amd64 -"),
    ],
)
def test_target_platform_args_use_the_one_platform_normalizer(platform: str, expected: str) -> None:
    # the TARGET* args agree with platforms.normalize_platform, which the registry rules compare with
    text = "FROM alpine:${TARGETPLATFORM}_${TARGETARCH}_${TARGETVARIANT:--}\n"
    resolved = one(text, target_platform=platform).resolved
    assert resolved is not None and resolved.replace("_", " ") == "alpine:" + expected
    if platform.count("/") and "//" not in platform:
        assert normalize_platform(platform) == expected.split()[0]


def test_malformed_variable_syntax_is_pf002_at_the_image_and_pf001_in_an_arg():
    doc = read("FROM alpine:${TAG\nFROM busybox\n")
    assert problems(doc) == [("PF002", 1, 6)]
    assert rows(doc) == [("from", 2, 6, "busybox", "busybox")]
    doc = read("ARG X=${Y:bad}\nFROM alpine:$X\n")
    assert problems(doc) == [("PF001", 1, 7)]
    assert (doc.uses[0].resolved, doc.uses[0].unresolved) == (None, ())


def test_pattern_substitutions_resolve_like_buildkit():
    doc = read("ARG V=1.22.3\nFROM golang:${V%.*}\nFROM alpine:${V##*.}\n")
    assert doc.problems == ()
    assert [u.resolved for u in doc.uses] == ["golang:1.22", "alpine:3"]


# ------------------------------------------------------------------ platform


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("FROM --platform=$BUILDPLATFORM golang:1.22\n", None),
        ("FROM --platform=linux/arm64 golang:1.22\n", "linux/arm64"),
        ("ARG P=linux/arm64\nFROM --platform=${P} golang:1.22\n", "linux/arm64"),
        ("ARG P=$TARGETPLATFORM\nFROM --platform=$P golang:1.22\n", None),
        ("ARG P\nFROM --platform=$P golang:1.22\n", None),
        ('FROM --platform="linux/s390x" golang:1.22\n', "linux/s390x"),
    ],
)
def test_platform_is_a_literal_or_none(text: str, platform: str | None):
    use = one(text)
    assert (use.platform, use.resolved) == (platform, "golang:1.22")
    assert read(text).problems == ()


def test_unknown_from_flag_and_missing_value():
    doc = read("FROM --platfrom=linux/amd64 alpine\nFROM --platform alpine\n")
    assert problems(doc)[:2] == [("PF001", 1, 6), ("PF001", 2, 6)]
    assert rows(doc)[0] == ("from", 1, 29, "alpine", "alpine")


# ------------------------------------------------------------------ stages


def test_stage_names_copy_from_index_and_scratch():
    text = (
        "FROM golang:1.22 AS Build\n"  # 1
        "FROM build\n"  # 2: the earlier stage (BuildKit stores stage names lower-cased)
        "COPY --from=BUILD /a /b\n"  # 3: --from is case-insensitive
        "COPY --from=0 /a /b\n"  # 4: an index
        "COPY --from=later /a /b\n"  # 5: --from sees later stages too
        "RUN --mount=from=Build,target=/x true\n"  # 6
        "FROM scratch AS later\n"  # 7
        "COPY --from=scratch /a /b\n"  # 8
        "FROM Build\n"  # 9: BuildKit does not lower-case a base name: an image (invalid)
        "FROM later2\n"  # 10: not defined before: an image
        "FROM busybox AS later2\n"  # 11
        "COPY --from=LATER2 /a /b\n"  # 12: a stage now (names are lower-cased)
    )
    doc = read(text)
    assert rows(doc) == [
        ("from", 1, 6, "golang:1.22", "golang:1.22"),
        ("from", 9, 6, "Build", "Build"),
        ("from", 10, 6, "later2", "later2"),
        ("from", 11, 6, "busybox", "busybox"),
    ]
    assert doc.uses[0].stage == "Build"  # stage names: build (2, 3, 6), later (5, 8), later2 (12) are no images
    assert doc.problems == ()


def test_stage_index_out_of_range():
    doc = read("FROM alpine\nCOPY --from=1 /a /b\n")
    assert problems(doc) == [("PF001", 2, 13)]
    assert rows(doc) == [("from", 1, 6, "alpine", "alpine")]


def test_copy_from_image_and_mount_from_image():
    text = (
        "FROM alpine AS base\n"
        "COPY --link --from=nginx:1.27 /etc/nginx /etc/nginx\n"
        "RUN --mount=type=bind,source=/x,from=tools:1.0,target=/t \\\n"
        "    --mount=from=cache/img:2,type=cache,target=/c \\\n"
        '    --mount="type=bind,from=quoted:3" \\\n'
        "    --mount=type=cache,target=/d \\\n"
        "    --mount='type=bind,\"source=a,b\",from=csv:4' true\n"
    )
    doc = read(text)
    assert rows(doc) == [
        ("from", 1, 6, "alpine", "alpine"),
        ("copy-from", 2, 20, "nginx:1.27", "nginx:1.27"),
        ("mount-from", 3, 38, "tools:1.0", "tools:1.0"),
        ("mount-from", 4, 18, "cache/img:2", "cache/img:2"),
        ("mount-from", 5, 29, "quoted:3", "quoted:3"),
        ("mount-from", 7, 42, "csv:4", "csv:4"),  # a quoted CSV field may hold commas
    ]
    assert [u.stage for u in doc.uses[1:]] == ["base"] * 5
    assert doc.uses[2].location.end_column == 47


def test_add_has_no_from_and_onbuild_is_not_this_build():
    assert rows(read("FROM alpine\nADD --from=x:1 a b\nONBUILD COPY --from=y:1 a b\n")) == [
        ("from", 1, 6, "alpine", "alpine")
    ]


def test_variables_in_copy_from_are_refused_by_buildkit_but_resolved_like_buildah():
    text = "ARG IMG=nginx:1\nFROM alpine\nARG IMG\nCOPY --from=$IMG /a /b\nRUN --mount=from=${IMG},target=/x true\n"
    doc = read(text)
    assert rows(doc)[1:] == [("copy-from", 4, 13, "$IMG", "nginx:1"), ("mount-from", 5, 18, "${IMG}", "nginx:1")]
    assert problems(doc) == [("PF001", 4, 13), ("PF001", 5, 18)]
    use = read("ARG IMG=nginx:1\nFROM alpine\nCOPY --from=$IMG /a /b\n").uses[1]
    assert (use.resolved, use.unresolved) == (None, ("IMG",))


# ------------------------------------------------------------------ line grammar


def test_instruction_names_and_keywords_in_any_case():
    assert rows(read("from alpine:3.20 as Base\nfrom base\n")) == [("from", 1, 6, "alpine:3.20", "alpine:3.20")]


def test_continuations_comments_and_empty_lines_inside_an_instruction():
    text = "FROM \\\n# a comment line BuildKit drops\n\n   alpine:3.20 \\\n  AS base\nFROM base\n"
    doc = read(text)
    assert rows(doc) == [("from", 4, 4, "alpine:3.20", "alpine:3.20")]
    assert doc.uses[0].stage == "base"


def test_image_split_across_a_continuation_keeps_both_ends():
    use = one("FROM alpi\\\nne:3.20\n")
    assert (use.written, use.location.line, use.location.column, use.location.end_line, use.location.end_column) == (
        "alpine:3.20",
        1,
        6,
        2,
        8,
    )


def test_crlf_tabs_and_columns_in_code_points():
    doc = read("FROM\talpine:3.20\tAS\tx\r\nRUN --mount=target=/é,from=node:20 true\r\n")
    assert rows(doc) == [("from", 1, 6, "alpine:3.20", "alpine:3.20"), ("mount-from", 2, 28, "node:20", "node:20")]


def test_byte_order_mark_is_skipped():
    assert rows(read("\ufeffFROM alpine\n")) == [("from", 1, 6, "alpine", "alpine")]


def test_escape_directive_windows_file_on_disk():
    raw = (DATA / "windows.Dockerfile").read_bytes()
    assert b"\r\n" in raw  # the fixture must keep its CRLF line endings
    doc = parse_dockerfile(read_text(DATA / "windows.Dockerfile"), "windows.Dockerfile")
    assert rows(doc) == [
        (
            "from",
            4,
            6,
            "mcr.microsoft.com/windows/servercore:${WINDOWS_VERSION}",
            "mcr.microsoft.com/windows/servercore:ltsc2022",
        ),
        (
            "from",
            10,
            2,
            "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022",
        ),
    ]
    assert doc.uses[0].stage == "build"
    assert doc.problems == ()


def test_backslash_is_no_continuation_after_escape_directive():
    doc = read("# escape=`\nFROM alpine AS a\nRUN dir c:\\\nFROM a\n")
    assert rows(doc) == [("from", 2, 6, "alpine", "alpine")]


def test_heredoc_bodies_are_never_instructions():
    doc = parse_dockerfile(read_text(DATA / "heredocs.Dockerfile"), "heredocs.Dockerfile")
    assert rows(doc) == [
        ("syntax", 1, 10, "docker/dockerfile:1.7", "docker/dockerfile:1.7"),
        ("from", 2, 6, "alpine:3.20", "alpine:3.20"),
        ("from", 19, 6, "busybox:1.36", "busybox:1.36"),
    ]
    assert doc.problems == ()
    assert [
        (i.cmd, i.start_line, i.end_line, i.heredocs)
        for i in scan(read_text(DATA / "heredocs.Dockerfile")).instructions
    ] == [
        ("FROM", 2, 2, ()),
        ("RUN", 3, 6, ("EOF",)),
        ("RUN", 7, 9, ("EOT",)),
        ("COPY", 10, 14, ("a", "b")),
        ("RUN", 15, 17, ("END",)),
        ("RUN", 18, 18, ()),
        ("FROM", 19, 19, ()),
        ("COPY", 20, 22, ("EOF",)),
    ]


def test_heredoc_terminator_with_tabs_only_for_dash_form():
    doc = read("FROM a\nRUN <<EOF\n\tEOF\nFROM evil\nEOF\nFROM b\n")
    assert [u.written for u in doc.uses] == ["a", "b"]


def test_no_heredoc_when_the_line_does_not_lex():
    """An unterminated quote makes BuildKit's lexer fail: it then looks for no heredoc."""
    assert [u.written for u in read("FROM a\nRUN echo 'x <<EOF\nFROM b\n").uses] == ["a", "b"]


def test_unterminated_heredoc_is_pf001():
    doc = read("FROM alpine\nRUN <<EOF\nFROM evil\n")
    assert problems(doc) == [("PF001", 2, 5)]
    assert [u.written for u in doc.uses] == ["alpine"]


# ------------------------------------------------------------------ directives


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# syntax=docker/dockerfile:1.7\nFROM a\n",
            [("syntax", 1, 10, "docker/dockerfile:1.7", "docker/dockerfile:1.7")],
        ),
        ("#syntax = docker/dockerfile:1 \nFROM a\n", [("syntax", 1, 11, "docker/dockerfile:1", "docker/dockerfile:1")]),
        ("# check=skip=all\n# SYNTAX=x/y:1 opt=1\nFROM a\n", [("syntax", 2, 10, "x/y:1", "x/y:1")]),
        ("#!/usr/bin/env buildx\n# syntax=x/y:1\nFROM a\n", [("syntax", 2, 10, "x/y:1", "x/y:1")]),
        ("# hello\n# syntax=x/y:1\nFROM a\n", []),
        ("\n# syntax=x/y:1\nFROM a\n", []),
        ("FROM a\n# syntax=x/y:1\n", []),
    ],
)
def test_syntax_directive_only_at_the_top(text: str, expected: list):
    assert [r for r in rows(read(text)) if r[0] == "syntax"] == expected


def test_bad_and_repeated_directives_are_pf001():
    assert problems(read("# escape=x\nFROM a\n")) == [("PF001", 1, 10)]
    assert problems(read("# syntax=a/b\n# syntax=c/d\nFROM a\n")) == [("PF001", 2, 1)]


# ------------------------------------------------------------------ files BuildKit rejects


def test_from_errors_are_reported_and_reading_goes_on():
    text = "FROM\nFROM a AS\nFROM b AS 1bad\nFROM c d\nFROM e\n"
    doc = read(text)
    assert problems(doc) == [("PF001", 1, 1), ("PF001", 2, 8), ("PF001", 3, 11), ("PF001", 4, 8)]
    assert [u.written for u in doc.uses] == ["a", "b", "e"]  # "FROM c d": which word is the image is unclear
    assert [u.written for u in read("FROM --platform linux/arm64 alpine\n").uses] == []


def test_instruction_before_from_unknown_instruction_and_no_from():
    assert problems(read("RUN echo\nFROM a\nFORM b\n")) == [("PF001", 1, 1), ("PF001", 3, 1)]
    assert problems(read("ARG A=1\nRUN echo $A\n")) == [("PF001", 1, 1)]
    assert read("").problems == () and read("# only a comment\n\n").problems == ()


@given(st.text(alphabet=st.sampled_from(list("FROMRUNCOPYAS<-EOF`\\#=$:{}/ \t\n\r\"'ab0")), max_size=200))
@settings(max_examples=300, deadline=None)
def test_never_raises(text: str):
    doc = read(text)
    assert all("internal error" not in p.message for p in doc.problems)
    for use in doc.uses:
        assert use.location.line >= 1 and use.location.column >= 1


# ------------------------------------------------------------------ suppressions


def test_suppression_covers_every_line_of_the_next_instruction():
    doc = parse_dockerfile(read_text(DATA / "multistage.Dockerfile"), "multistage.Dockerfile")
    assert dict(doc.suppressions.by_line) == {10: frozenset({"PF102"}), 11: frozenset({"PF102"})}
    assert doc.suppressions.file_wide == frozenset({"PF104"})
    assert rows(doc) == [
        ("from", 4, 32, "golang:${GO_VERSION}", "golang:1.22"),
        ("mount-from", 7, 42, "tools:1.0", "tools:1.0"),
        ("from", 10, 6, "$BASE", "registry.example.com:5000/base/debian:12"),
        ("copy-from", 14, 13, "nginx:1.27", "nginx:1.27"),
    ]
    # builder (12, 15) and runtime (16) are stage names: no rows


def test_suppression_inside_a_continuation_covers_that_instruction():
    text = "FROM alpine\nRUN --mount=from=a:1,target=/a \\\n    # preflight: ignore=PF101\n    --mount=from=b:1,target=/b true\nFROM c\n"
    doc = read(text)
    assert dict(doc.suppressions.by_line) == {2: frozenset({"PF101"}), 3: frozenset({"PF101"}), 4: frozenset({"PF101"})}


def test_bare_ignore_and_blank_lines_between():
    doc = read("# preflight: ignore\n\nFROM alpine\nFROM busybox\n")
    assert dict(doc.suppressions.by_line) == {3: frozenset({"*"})}


# ------------------------------------------------------------------ the corpus


def _corpus_dockerfiles() -> list[str]:
    index = (CORPUS / "INDEX.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in index if line.startswith("dockerfile\t")]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside this checkout")
def test_every_corpus_dockerfile_reads_without_exceptions():
    files = _corpus_dockerfiles()
    assert len(files) > 1000
    total = 0
    for rel in files:
        text = (CORPUS / rel).read_bytes().decode("utf-8", errors="replace")
        doc = parse_dockerfile(text, rel)
        assert all("internal error" not in p.message for p in doc.problems), rel
        lines = text.lstrip("\ufeff").split("\n")
        for use in doc.uses:
            total += 1
            loc = use.location
            if use.kind is not UseKind.SYNTAX and loc.end_line == loc.line:
                assert lines[loc.line - 1][loc.column - 1 : loc.end_column - 1] == use.written, (rel, use)
    assert total > 2000


# ----------------------------------------------------------------- PF105 stage-name-typo


def _stage_findings(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    (tmp_path / "Dockerfile").write_text(text, encoding="utf-8")
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    return [(f.location.line, f.rule, f.message) for f in report.findings if f.rule in ("PF101", "PF105")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the docker/compose and cli-docs-tool bug: a suffix component of a stage name
        ("FROM golang:1.22 AS license-set\nFROM scratch AS u\nCOPY --from=set /out /\n", [(3, "PF105", "license-set")]),
        # one edit away, from another stage
        ("FROM alpine:3 AS runtime\nFROM alpine:3\nCOPY --from=runtme /a /a\n", [(3, "PF105", "runtime")]),
        # FROM names a stage defined further down
        ("FROM builder\nFROM alpine:3 AS builder\n", [(1, "PF105", "defined later")]),
        # stages named after their base image: the image, not a typo
        ("FROM node AS node-build\nFROM python:3 AS p\nCOPY --from=node /n /n\n", [(1, "PF101", ""), (3, "PF101", "")]),
        # a stage cannot copy from itself, so its own name is no candidate
        ("FROM alpine:3 AS runtime\nCOPY --from=runtme /a /a\n", [(2, "PF101", "")]),
        # short names need an exact component: "sets" is not "test"
        ("FROM alpine:3 AS test\nFROM alpine:3\nCOPY --from=tst /a /a\n", [(3, "PF101", "")]),
    ],
)
def test_stage_name_typo(tmp_path: Path, text: str, expected: list[tuple[int, str, str]]) -> None:
    got = _stage_findings(tmp_path, text)
    assert [(line, rule) for line, rule, _ in got] == [(line, rule) for line, rule, _ in expected]
    for (_, _, message), (_, _, part) in zip(got, expected, strict=True):
        assert part in message


PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nci:TOPSECRETHASH:1000\n"


def test_a_file_without_any_dockerfile_instruction_is_one_finding_quoting_nothing():
    doc = parse_dockerfile(PASSWD, "Dockerfile")
    assert [(p.rule, p.location.line) for p in doc.problems] == [("PF001", 1)]
    assert doc.problems[0].message.startswith("not a Dockerfile") and doc.uses == ()
    assert "root" not in doc.problems[0].message and "TOPSECRET" not in doc.problems[0].message


def test_unknown_instruction_messages_quote_the_keyword_cut_short():
    long_word = "password=hunter2-and-much-more-text-on-one-line"
    doc = parse_dockerfile(f"FROM alpine:3.20\nRNU echo hi\n{long_word}\n", "Dockerfile")
    messages = [p.message for p in doc.problems]
    assert messages[0] == "unknown instruction 'RNU' (BuildKit rejects the file)"
    assert "hunter2" not in messages[1] and "password" not in messages[1]
    before = parse_dockerfile(f"{long_word}x y\nFROM alpine:3.20\n", "Dockerfile")
    assert all("hunter2" not in p.message for p in before.problems)
