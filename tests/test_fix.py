"""``preflight fix`` without a registry: the typo policy, exact edits, diffs, atomic writes, and the
fixes PF201/PF206 findings carry (the same edits, in JSON and SARIF)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import preflight.rules.registry as rules
from preflight.engine import RuleContext, Subject
from preflight.facts import ImageFacts, Status
from preflight.fix import policy
from preflight.fix.edits import Edit, apply, narrow, read_source, unified_diff, write_atomic
from preflight.imageref import ImageRef
from preflight.model import Finding, Level, Location, Report, Summary
from preflight.report import render

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("tag", "suggestions", "applied"),
    [
        ("3.12-slimm", ("3.12-slim", "3.11-slim"), "3.12-slim"),
        ("3.12-slim-bookwrom", ("3.12-slim-bookworm",), "3.12-slim-bookworm"),  # a swap is one edit
        ("ALPINE", ("alpine",), "alpine"),  # case only
        ("edg", ("edge",), "edge"),
        ("3.10", ("3.11", "3.12"), None),  # ambiguous
        ("1.0.2", ("1.0.0",), None),  # another version
        ("3.11", ("3.12",), None),
        ("lts", ("lts-alpine3.18",), None),  # too far, and adds a version
        ("3.12-slimmmm", ("3.12-slim",), None),  # three edits
        ("sli", ("slim",), "slim"),
        ("abcd", ("abxy",), None),  # two edits on a short tag
        ("v5x", ("v1", "v2", "v3"), None),
        ("nosuch", (), None),
    ],
)
def test_typo_policy(tag: str, suggestions: tuple[str, ...], applied: str | None) -> None:
    decision = policy.decide(tag, suggestions)
    assert decision.replacement == applied
    assert (decision.reason == "") == (applied is not None)


def test_narrow_keeps_the_change_minimal() -> None:
    assert narrow("python:3.12-slimm", "python:3.12-slim") == (16, 17, "")
    assert narrow("a:1", "a:1@" + D1) == (3, 3, "@" + D1)
    assert narrow("a@" + D1, "a@" + D2) == (9, 73, "2" * 64)
    assert narrow("same", "same") == (4, 4, "")


def test_apply_refuses_an_edit_that_does_not_match() -> None:
    assert apply("FROM a:1\n", [Edit(8, 8, "", "@x")]) == "FROM a:1@x\n"
    with pytest.raises(ValueError):
        apply("FROM a:1\n", [Edit(5, 6, "b", "c")])


@pytest.mark.parametrize(
    ("before", "after", "tail"),
    [
        ("FROM a:1\r\n", "FROM a:2\r\n", "+FROM a:2\r\n"),
        ("FROM a:1", "FROM a:2", "+FROM a:2\n\\ No newline at end of file\n"),
    ],
)
def test_diff_keeps_line_endings_and_marks_a_missing_final_newline(before: str, after: str, tail: str) -> None:
    diff = unified_diff("dir/Dockerfile", before, after)
    assert diff.startswith("--- a/dir/Dockerfile\n+++ b/dir/Dockerfile\n@@")
    assert diff.endswith(tail)


def test_positions_follow_each_readers_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\rimage: x\r\nb: \xc3\xa9 y\n")
    source = read_source(path, "compose")
    assert source.bom and source.offset(2, 8) == source.text.index("x")
    assert source.offset(3, 6) == source.text.index("y")  # columns count code points
    docker = read_source(path, "dockerfile")  # BuildKit: "\r" alone is no line break
    assert docker.offset(2, 6) == docker.text.index("y")
    assert source.location("c", 5, 6) == Location("c", 2, 1, 2, 2)


def test_atomic_write_keeps_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM a:1\n")
    os.chmod(path, 0o751)
    write_atomic(path, b"FROM a:2\n")
    assert path.read_bytes() == b"FROM a:2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile"]


def _subject(written: str, status: Status, **facts: object) -> Subject:
    from preflight.model import ImageUse, UseKind

    use = ImageUse(UseKind.FROM, Location("Dockerfile", 1, 6, 1, 6 + len(written)), written, written)
    ref = ImageRef.parse(written)
    return Subject(use, ref, None, ImageFacts(ref.canonical, status, "r.example", **facts))  # type: ignore[arg-type]


def test_pf201_carries_a_fix_only_for_what_fix_applies() -> None:
    (ambiguous,) = rules.tag_not_found(
        _subject("python:3.10", Status.TAG_MISSING, suggestions=("3.11", "3.12")), RuleContext()
    )
    (version,) = rules.tag_not_found(_subject("app:1.0.2", Status.TAG_MISSING, suggestions=("1.0.0",)), RuleContext())
    assert ambiguous.fixes == () and version.fixes == ()
    assert ambiguous.suggestions == ("python:3.11", "python:3.12")  # still suggested


def test_pf206_carries_the_digest_update_and_json_shows_it() -> None:
    subject = _subject(f"python:3.12@{D1}", Status.OK, digest=D1, tag_digest=D2)
    (hit,) = rules.digest_tag_mismatch(subject, RuleContext())
    (fix,) = hit.fixes
    assert fix.replacement == D2
    assert (fix.location.column, fix.location.end_column) == (6 + len("python:3.12@"), 6 + len(f"python:3.12@{D1}"))
    finding = Finding("PF206", Level.NOTE, hit.message, subject.use.location, subject.use.written, (), hit.fixes)
    data = json.loads(render(Report((finding,), Summary()), "json", rules={}, cwd=Path(".")))
    assert data["findings"][0]["fixes"] == [
        {
            "description": f"update the digest to {D2}",
            "path": "Dockerfile",
            "line": 1,
            "column": fix.location.column,
            "end_line": 1,
            "end_column": fix.location.end_column,
            "replacement": D2,
        }
    ]


def plan_for(root: Path, files: dict[str, str], environ: dict[str, str] | None = None, **options: bool) -> list[str]:
    """Plan with made-up registry answers (every tag exists; ``*-slimm`` tags are missing with the
    suggestion ``*-slim``); returns the output lines of the changes and listed references."""
    from preflight.config import Config
    from preflight.engine import RuleContext as Ctx
    from preflight.engine import evaluate
    from preflight.fix.plan import Options, plan
    from preflight.fix.run import change_line, listed_line, read_sources
    from preflight.pipeline import load, selection_of

    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    config = Config()
    loaded = load(["."], config, cwd=root, environ=environ or {})
    facts = {}
    for subject in loaded.all_subjects():
        ref = subject.ref
        if ref is None:
            continue
        if ref.tag and ref.tag.endswith("-slimm"):
            suggestion = ref.tag[:-1]
            facts[ref.canonical] = ImageFacts(ref.canonical, Status.TAG_MISSING, "r", suggestions=(suggestion,))
        else:
            facts[ref.canonical] = ImageFacts(ref.canonical, Status.OK, "r", digest=D1)
    report = evaluate(loaded, selection_of(config), Ctx(facts=facts), Summary())
    result = plan(loaded, report, facts, Options(**options), read_sources(loaded.documents, root))
    return sorted([change_line(c, False) for c in result.changes] + [listed_line(i) for i in result.listed])


def test_values_from_outside_the_file_are_listed_with_their_source(tmp_path: Path) -> None:
    lines = plan_for(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n"
                "  app:\n    build: {context: app, args: {TAG: 1-slimm}}\n"
                "  env:\n    image: r.example/a:${FROM_ENV:-1-slimm}\n"
            ),
            "app/Dockerfile": "ARG TAG=1\nFROM r.example/b:${TAG}\n",
            "Dockerfile": "ARG SHARED=2-slimm\nFROM r.example/c:${SHARED}\nFROM r.example/d:${SHARED}\n",
        },
        environ={"FROM_ENV": "1-slimm"},
    )
    assert lines == [
        'Dockerfile:2:6: not fixed: "r.example/c:${SHARED}": correct the tag by hand: the default of ARG SHARED'
        " (line 1) feeds 2 references",
        'Dockerfile:3:6: not fixed: "r.example/d:${SHARED}": correct the tag by hand: the default of ARG SHARED'
        " (line 1) feeds 2 references",
        'app/Dockerfile:2:6: not fixed: "r.example/b:${TAG}": correct the tag by hand: $TAG gets its value from a'
        " build argument (--build-arg, compose build.args or build-args in the configuration)",
        'compose.yaml:5:12: not fixed: "r.example/a:${FROM_ENV:-1-slimm}": correct the tag by hand: $FROM_ENV gets'
        " its value from the environment",
    ]


def test_pin_skips_suppressed_built_and_digest_references(tmp_path: Path) -> None:
    lines = plan_for(
        tmp_path,
        {
            "compose.yaml": "services:\n  own:\n    image: r.example/own:1\n    build: .\n",
            "Dockerfile": (
                f"# preflight: ignore=PF103\nFROM r.example/a:1\nFROM r.example/b@{D2}\nFROM r.example/c:1@{D2}\n"
                "FROM r.example/d\n"
            ),
        },
        pin=True,
    )
    assert lines == [f'Dockerfile:5:6: pinned: "r.example/d" -> "r.example/d@{D1}"']


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path) -> None:
    from preflight.fix.changes import PIN, Change, Plan
    from preflight.fix.run import execute

    path = tmp_path / "Dockerfile"
    path.write_text("FROM a:1\n")
    source = read_source(path, "dockerfile")
    change = Change(
        PIN,
        "Dockerfile",
        Edit(8, 8, "", "@" + D1),
        Location("Dockerfile", 1, 9),
        Location("Dockerfile", 1, 6),
        "a:1",
        "a:1@" + D1,
        "",
    )
    path.write_text("FROM a:1\nFROM b:2\n")
    outcome = execute(Plan([change]), {"Dockerfile": source}, dry_run=False)
    assert outcome.errors == ["Dockerfile changed while preflight was reading it; not written"]
    assert path.read_text() == "FROM a:1\nFROM b:2\n"
    path.write_text("FROM a:1\n")
    assert execute(Plan([change]), {"Dockerfile": source}, dry_run=False).files == ["Dockerfile"]
    assert path.read_text() == f"FROM a:1@{D1}\n"


@given(st.text(), st.text())
def test_narrow_then_apply_gives_the_new_text(old: str, new: str) -> None:
    start, end, inserted = narrow(old, new)
    assert apply(old, [Edit(start, end, old[start:end], inserted)]) == new
    assert start <= end <= len(old)


@pytest.mark.parametrize("bad", ["3.12-slim\n", "3.12-slim\x1b", "3.12-sli\u202em", "3.12-slim#"])
def test_a_suggestion_that_is_not_a_tag_is_never_applied(bad: str) -> None:
    """Suggestions come from registries (and the facts cache): one edit away, but not a tag."""
    assert policy.decide("3.12-slimm", [bad]).replacement is None
    assert policy.decide("3.12-slimm", [bad, "3.12-slim"]).replacement == "3.12-slim"
