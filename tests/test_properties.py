"""Property-based tests: the readers never crash and never point outside the file.

Default example counts keep this file fast; ``PREFLIGHT_FUZZ_EXAMPLES=N`` runs N examples per
property (the subprocess property runs N // 100). ``bench/fuzz_campaign.py`` is the long run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight import dockerfile
from preflight.compose import load_compose
from preflight.config import Config
from preflight.discover import display_path
from preflight.dotenv import parse_dotenv
from preflight.imageref import ImageRef, ReferenceError
from preflight.interpolate import MAX_DEPTH, Dialect, ExpansionError, expand
from preflight.model import Document, Location
from preflight.pipeline import check_paths
from preflight.textfile import InputError, decode
from preflight.yamlpos import split_lines

pytestmark = pytest.mark.slow  # hypothesis over every reader: out of the fast loop, always in CI

_SCALE = int(os.environ.get("PREFLIGHT_FUZZ_EXAMPLES", "0"))


def examples(default: int, subprocesses: bool = False) -> settings:
    n = (max(default, _SCALE // 100) if subprocesses else _SCALE) or default
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


# ----------------------------------------------------------------- checks shared by the properties


def assert_inside(loc: Location, lines: list[str], what: object) -> None:
    assert 1 <= loc.line <= len(lines), (loc, len(lines), what)
    assert loc.column >= 1, (loc, what)
    if loc.end_line is not None:
        assert (loc.end_line, loc.end_column or 0) >= (loc.line, loc.column), (loc, what)


def assert_document(doc: Document, lines: list[str]) -> None:
    """Every problem and use lies in the file; a one-line use covers exactly its written text."""
    for problem in doc.problems:
        assert "internal error" not in problem.message, problem.message
        assert_inside(problem.location, lines, problem)
    for use in doc.uses:
        loc = use.location
        assert_inside(loc, lines, use)
        if loc.end_line == loc.line and loc.end_column is not None:
            assert lines[loc.line - 1][loc.column - 1 : loc.end_column - 1] == use.written, use


# ----------------------------------------------------------------- image references

_COMPONENT = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-+)[a-z0-9]{1,4}){0,2}", fullmatch=True)
_DOMAIN = st.sampled_from(
    [
        "",
        "docker.io/",
        "index.docker.io/",
        "ghcr.io/",
        "localhost/",
        "localhost:5000/",
        "Registry.Example.COM:443/",
        "[::1]:5000/",
        "127.0.0.1/",
        "my-registry/",
    ]
)
_TAG = st.from_regex(r"[\w][\w.-]{0,20}", fullmatch=True).filter(str.isascii)
_DIGEST = st.sampled_from(
    ["", "@sha256:" + "a" * 64, "@sha512:" + "0" * 128, "@sha256:" + "F" * 64, "@md5:" + "0" * 32]
)
REFERENCES = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda d, parts, t, g: d + "/".join(parts) + t + g,
        _DOMAIN,
        st.lists(_COMPONENT, min_size=1, max_size=4),
        st.one_of(st.just(""), _TAG.map(lambda t: ":" + t)),
        _DIGEST,
    ),
)


@examples(400)
@given(REFERENCES)
def test_imageref_parses_or_says_why(text):
    try:
        ref = ImageRef.parse(text)
    except ReferenceError as exc:
        assert str(exc)
        return
    # canonical spells out the implied ":latest" and nothing else; the familiar form is the same reference
    assert ImageRef.parse(ref.canonical) == ref.with_tag(ref.effective_tag)
    assert ImageRef.parse(ref.canonical).canonical == ref.canonical
    assert ImageRef.parse(ref.familiar) == ref


@examples(100)
@given(
    st.builds(lambda parts, t: "/".join(parts) + ":" + t, st.lists(_COMPONENT, min_size=1, max_size=3), _TAG).filter(
        lambda t: "/" not in t or "." not in t.split("/")[0]
    )
)  # else the first component is a registry
def test_tagged_references_round_trip_exactly(text):
    ref = ImageRef.parse(text)
    assert ImageRef.parse(ref.canonical) == ref
    official = text.startswith("library/") and text.count("/") == 1
    assert ref.familiar == (text.removeprefix("library/") if official else text)


# ----------------------------------------------------------------- text files


@examples(300)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_decode_gives_text_or_input_error(data):
    try:
        text = decode(data)
    except InputError as exc:
        assert exc.message and exc.line >= 1 and exc.column >= 1
        assert exc.line <= data.count(b"\n") + 1
        return
    assert text.encode("utf-8") in (data, data[3:])


# ----------------------------------------------------------------- interpolation

_VAR_TOKENS = [
    "$",
    "$$",
    "${",
    "}",
    "{",
    ":",
    "-",
    "+",
    "?",
    ":-",
    ":?",
    ":+",
    "#",
    "##",
    "%",
    "%%",
    "/",
    "//",
    "A",
    "B",
    "EMPTY",
    "_x1",
    "'",
    '"',
    "\\",
    "`",
    "*",
    "[a-z]",
    "[z-a]",
    "[!",
    "[",
    "]",
    " ",
    "\n",
    "x",
]
VAR_TEXT = st.lists(st.one_of(st.sampled_from(_VAR_TOKENS), st.text(max_size=3)), max_size=25).map("".join)
DIALECTS = st.sampled_from([Dialect.COMPOSE, Dialect.buildkit("\\"), Dialect.buildkit("`")])  # type: ignore[attr-defined]
ENVS = st.dictionaries(
    st.sampled_from(["A", "B", "EMPTY", "_x1"]), st.sampled_from(["", "a/b", "x*y", "${A}", "$$", "a-b.c[x]"])
)


@examples(500)
@given(VAR_TEXT, ENVS, DIALECTS)
def test_expand_raises_only_expansion_error(text, env, dialect):
    try:
        exp = expand(text, env.get, dialect)
    except ExpansionError as exc:
        assert str(exc)
        return
    assert exp.text is not None or exp.unresolved or exp.errors
    assert set(exp.unresolved) <= set(exp.used)
    assert not set(exp.unresolved) & set(env)
    if "$" not in text and dialect is Dialect.COMPOSE:  # type: ignore[attr-defined]
        assert exp.text == text


def nested(levels: int, inner: str) -> str:
    for i in range(levels):
        inner = f"${{A{i}:-{inner}}}"
    return inner


@examples(20)
@given(st.integers(0, MAX_DEPTH), DIALECTS)
def test_nested_defaults_resolve_up_to_the_bound(levels, dialect):
    exp = expand(nested(levels, "x"), {}.get, dialect)
    assert exp.text == "x" and len(exp.used) == levels


def test_nesting_beyond_the_bound_is_an_expansion_error():
    try:
        expand(nested(MAX_DEPTH + 1, "x"), {}.get, Dialect.COMPOSE)  # type: ignore[attr-defined]
    except ExpansionError as exc:
        assert str(exc) == f"variables nested deeper than {MAX_DEPTH} levels"
    else:
        raise AssertionError("no ExpansionError")


# ----------------------------------------------------------------- Dockerfiles

_DF_TOKENS = [
    "FROM ",
    "from ",
    "ARG ",
    "COPY ",
    "RUN ",
    "ONBUILD ",
    "ENV ",
    "LABEL ",
    "XYZ ",
    " AS ",
    " as ",
    "--from=",
    "--platform=",
    "--mount=type=bind,from=",
    "--mount=type=cache,target=/x,",
    "python:3.12",
    "alpine",
    "scratch",
    "build",
    "0",
    "1",
    "$A",
    "${A}",
    "${A:-b}",
    "${A:?msg}",
    "${A#*/}",
    "${BUILDPLATFORM}",
    "$TARGETARCH",
    "A=",
    "A=python",
    "<<EOF",
    "<<-'EOF'",
    "EOF",
    "\tEOF",
    "\\",
    "`",
    "'",
    '"',
    "#",
    "# syntax=docker/dockerfile:1",
    "# escape=`",
    "# preflight: ignore=PF101",
    " ",
    "\t",
    "\r",
    "\u00a0",
    "\ufeff",
    '["a"]',
    "@sha256:" + "a" * 64,
]
DF_LINE = st.lists(st.one_of(st.sampled_from(_DF_TOKENS), st.text(max_size=4)), max_size=8).map("".join)
DOCKERFILES = st.one_of(st.lists(DF_LINE, max_size=12).map("\n".join), st.text(max_size=200))


@examples(300)
@given(DOCKERFILES, st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["", "x", "${A}"]), max_size=2))
def test_dockerfile_reader_never_raises_and_stays_in_the_file(text, build_args):
    doc = dockerfile.parse_dockerfile(text, "Dockerfile", build_args=build_args)
    body = text[1:] if text.startswith("\ufeff") else text
    assert_document(doc, body.split("\n"))


@examples(150)
@given(DOCKERFILES)
def test_dropping_unused_instructions_changes_nothing(text):
    keep = dockerfile.reader._relevant
    try:
        dockerfile.reader._relevant = lambda: lambda _ins: True  # type: ignore[assignment]
        everything = dockerfile.parse_dockerfile(text, "Dockerfile")
    finally:
        dockerfile.reader._relevant = keep  # type: ignore[assignment]
    assert dockerfile.parse_dockerfile(text, "Dockerfile") == everything


# ----------------------------------------------------------------- compose

_KEYS = [
    "services",
    "image",
    "build",
    "context",
    "dockerfile",
    "args",
    "extends",
    "service",
    "file",
    "include",
    "path",
    "platform",
    "x-a",
    "<<",
    "web",
    "db",
    "env_file",
    "target",
]
_VALUES = [
    "redis",
    "redis:latest",
    "python:${TAG:-3}",
    "${X:?need X}",
    ".",
    "Dockerfile",
    "web",
    "db",
    "$$x",
    "",
    None,
    "compose.yaml",
    "other.yaml",
    "${",
    "a b",
]
YAML_TREES = st.recursive(
    st.one_of(st.sampled_from(_VALUES), st.integers(), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)),
    max_leaves=20,
)
_YAML_TOKENS = [
    "services:\n",
    "  web:\n",
    "    image: ",
    "redis",
    "&a ",
    "*a",
    "<<: *a\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "\n",
    "  ",
    "'",
    '"',
    "!reset ",
    "!!binary ",
    "---\n",
    "...\n",
    "# c\n",
    "%YAML 1.1\n",
    "\t",
    "?",
]
COMPOSE_TEXT = st.one_of(
    YAML_TREES.map(lambda tree: yaml.safe_dump(tree, default_flow_style=False)),
    st.lists(st.one_of(st.sampled_from(_YAML_TOKENS), st.text(max_size=4)), max_size=30).map("".join),
)
COMPOSE_BYTES = st.one_of(COMPOSE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=120))


def _file_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")
    return split_lines(text[1:] if text.startswith("\ufeff") else text)


@examples(300)
@given(COMPOSE_BYTES, st.one_of(st.none(), COMPOSE_BYTES))
def test_compose_loader_never_raises_and_stays_in_the_file(data, other):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / "compose.yaml"
        path.write_bytes(data)
        if other is not None:
            (base / "other.yaml").write_bytes(other)
        docs = load_compose(path, lambda p: display_path(p, base), {"TAG": "3.12"})
        assert docs and docs[0].path == "compose.yaml" and all(d.kind == "compose" for d in docs)
        for doc in docs:
            assert_document(doc, _file_lines(base / doc.path))


@examples(200)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["A=1", "export B=2", "C: 3", "#", " ", "'", '"', "\\", "$A", "${A:-x}", "${Z:?e}", "\n", "=", "-", "."]
            ),
            st.text(max_size=3),
        ),
        max_size=20,
    ).map("".join)
)
def test_dotenv_parser_never_raises(text):
    values, error = parse_dotenv(text, {"HOME": "/root"}.get)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
    assert error is None or (1 <= error[0] <= text.count("\n") + 1 and error[1])


# ----------------------------------------------------------------- the whole pipeline

_TREE = ("Dockerfile", "compose.yaml", ".env", "sub/Dockerfile", "sub/compose.override.yaml")
TREES = st.tuples(
    st.one_of(DOCKERFILES.map(str.encode), st.binary(max_size=60)),
    COMPOSE_BYTES,
    st.one_of(st.just(b""), st.binary(max_size=40), st.just(b"TAG=latest\nB=${TAG}\n")),
    st.one_of(DOCKERFILES.map(str.encode), st.just(b"FROM ${TAG}\n")),
    COMPOSE_BYTES,
)


def _write(base: Path, files: tuple[bytes, ...]) -> None:
    for rel, data in zip(_TREE, files, strict=False):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)


@examples(60)
@given(TREES)
def test_pipeline_in_process_never_raises(files):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _write(base, files)
        report = check_paths(["."], Config(), cwd=base, environ={})
        for finding in report.findings:
            assert finding.location.line >= 1 and finding.location.column >= 1, finding


@examples(4, subprocesses=True)
@given(TREES)
def test_cli_exit_code_is_0_or_1_never_a_traceback(files):
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), files)
        proc = subprocess.run(
            [sys.executable, "-m", "preflight", "check", "--offline", "."],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
