"""The engine: selection, levels, suppressions, groups, de-duplication, ordering."""

from __future__ import annotations

import pytest

from preflight import engine, rulebook
from preflight.engine import Hit, Rule, RuleContext, Selection, evaluate
from preflight.model import Document, ImageUse, Level, Location, Problem, Summary, Suppressions, UseKind
from preflight.resolve import resolve_documents, subject_for


def use(line: int, written: str, path: str = "Dockerfile") -> ImageUse:
    return ImageUse(UseKind.FROM, Location(path, line, 6), written, written)


def every_image(subject, ctx):
    yield Hit(f"saw {subject.use.written}")


def once_per_registry(subject, ctx):
    if subject.ref is not None:
        yield Hit(f"registry {subject.ref.domain}", group=subject.ref.domain)


@pytest.fixture
def rules(monkeypatch):
    table = {
        "PF001": Rule("PF001", "parse-error", "s", Level.ERROR, None),
        "PF901": Rule("PF901", "every-image", "s", Level.WARNING, every_image),
        "PF902": Rule("PF902", "per-registry", "s", Level.NOTE, once_per_registry),
        "PF903": Rule("PF903", "opt-in", "s", Level.OFF, every_image),
    }
    monkeypatch.setattr(rulebook, "RULES", table)  # the rule book the engine reads
    monkeypatch.setattr(rulebook, "_load_rule_modules", lambda: None)
    return table


def run(docs, selection=Selection()):
    return evaluate(resolve_documents(docs), selection, RuleContext(), Summary())


def ids(report):
    return [(f.rule, f.location.path, f.location.line) for f in report.findings]


def test_default_levels_and_off_rules(rules):
    report = run([Document("Dockerfile", "dockerfile", uses=(use(1, "a"),))])
    assert ids(report) == [("PF901", "Dockerfile", 1), ("PF902", "Dockerfile", 1)]
    assert [f.level for f in report.findings] == [Level.WARNING, Level.NOTE]


def test_select_enables_opt_in_rule_and_limits_others(rules):
    report = run([Document("Dockerfile", "dockerfile", uses=(use(1, "a"),))], Selection(select=("PF903",)))
    assert ids(report) == [("PF903", "Dockerfile", 1)]
    assert report.findings[0].level is Level.WARNING


def test_prefix_ignore_and_level_override(rules):
    doc = Document("Dockerfile", "dockerfile", uses=(use(1, "a"),))
    report = run([doc], Selection(ignore=("PF90",)))
    assert ids(report) == []
    report = run([doc], Selection(levels={"PF902": Level.ERROR, "PF901": Level.OFF}))
    assert [(f.rule, f.level) for f in report.findings] == [("PF902", Level.ERROR)]


def test_inline_and_file_wide_suppressions(rules):
    doc = Document(
        "Dockerfile",
        "dockerfile",
        uses=(use(1, "a"), use(2, "b")),
        suppressions=Suppressions(by_line={2: frozenset({"PF901"})}, file_wide=frozenset({"PF902"})),
    )
    assert ids(run([doc])) == [("PF901", "Dockerfile", 1)]
    everything = Document(
        "Dockerfile", "dockerfile", uses=(use(1, "a"),), suppressions=Suppressions({1: frozenset({"*"})})
    )
    assert ids(run([everything])) == []


def test_groups_report_once_at_the_first_place(rules):
    docs = [
        Document(
            "a/Dockerfile", "dockerfile", uses=(use(3, "python", "a/Dockerfile"), use(5, "ghcr.io/o/r", "a/Dockerfile"))
        ),
        Document("b/Dockerfile", "dockerfile", uses=(use(1, "node", "b/Dockerfile"),)),
    ]
    report = run(docs, Selection(select=("PF902",)))
    assert [(f.location.path, f.message) for f in report.findings] == [
        ("a/Dockerfile", "registry docker.io"),
        ("a/Dockerfile", "registry ghcr.io"),
    ]


def test_problems_become_findings_and_duplicates_collapse(rules):
    problem = Problem("PF001", Location("compose.yaml", 4, 2), "bad")
    docs = [
        Document("compose.yaml", "compose", problems=(problem,)),
        Document("compose.yaml", "compose", problems=(problem,)),
    ]
    report = run(docs)
    assert ids(report) == [("PF001", "compose.yaml", 4)]


def test_findings_are_sorted_by_path_line_column(rules):
    docs = [
        Document("b/Dockerfile", "dockerfile", uses=(use(2, "x", "b/Dockerfile"),)),
        Document("a/Dockerfile", "dockerfile", uses=(use(9, "y", "a/Dockerfile"), use(1, "z", "a/Dockerfile"))),
    ]
    report = run(docs, Selection(select=("PF901",)))
    assert ids(report) == [("PF901", "a/Dockerfile", 1), ("PF901", "a/Dockerfile", 9), ("PF901", "b/Dockerfile", 2)]


def test_subject_parses_reference_once_and_keeps_errors():
    ok = subject_for(use(1, "python:3.12"))
    assert ok.ref is not None and ok.ref.canonical == "docker.io/library/python:3.12"
    bad = subject_for(use(1, "Python"))
    assert bad.ref is None and "lowercase" in (bad.ref_error or "")
    unresolved = subject_for(ImageUse(UseKind.FROM, Location("D"), "${X}", None, ("X",)))
    assert unresolved.ref is None and unresolved.ref_error is None


def test_describe_names_written_and_resolved():
    assert engine.describe(ImageUse(UseKind.FROM, Location("D"), "${B}", "python")) == '"${B}" (resolves to "python")'
    assert engine.describe(use(1, "python")) == '"python"'


def test_extend_select_adds_opt_in_rules_to_the_defaults(rules):
    doc = Document("Dockerfile", "dockerfile", uses=(use(1, "a"),))
    report = run([doc], Selection(extend_select=("PF903",)))
    assert [f.rule for f in report.findings] == ["PF901", "PF902", "PF903"]


def test_describe_clips_huge_references():
    deep = "${A:-" * 1000 + "redis:latest" + "}" * 1000
    text = engine.describe(ImageUse(UseKind.FROM, Location("D"), deep, "redis:latest"))
    assert len(text) < 400 and "…" in text and text.endswith('(resolves to "redis:latest")')


def test_a_run_that_learned_nothing_does_not_call_the_registry_rules(rules, monkeypatch):
    calls: list[str] = []

    def registry_rule(subject, ctx):
        calls.append(subject.use.written)
        yield Hit("registry said so")

    rules["PF904"] = Rule("PF904", "registry", "s", Level.WARNING, registry_rule, needs_registry=True)
    docs = [Document("Dockerfile", "dockerfile", uses=(use(1, "python:3.12"),))]
    assert "PF904" not in [f.rule for f in run(docs).findings] and calls == []
    facts = {"docker.io/library/other:1": object()}  # facts about another image: the rule runs
    report = evaluate(resolve_documents(docs), Selection(), RuleContext(facts=facts), Summary())  # type: ignore[dict-item]
    assert "PF904" in [f.rule for f in report.findings] and calls == ["python:3.12"]


REGISTRY_RULE_SUBJECTS = [
    ImageUse(UseKind.FROM, Location("Dockerfile", 1, 6), "python:3.12", "python:3.12"),
    ImageUse(UseKind.FROM, Location("Dockerfile", 2, 6), "python", "python", platform="linux/arm64"),
    ImageUse(UseKind.FROM, Location("Dockerfile", 3, 6), "a/b:1@sha256:" + "a" * 64, "a/b:1@sha256:" + "a" * 64),
    ImageUse(UseKind.COPY_FROM, Location("Dockerfile", 4, 13), "nginx", "nginx"),
    ImageUse(UseKind.SYNTAX, Location("Dockerfile", 1, 10), "docker/dockerfile:1", "docker/dockerfile:1"),
    ImageUse(UseKind.FROM, Location("Dockerfile", 5, 6), "${X}", None, ("X",)),
    ImageUse(UseKind.FROM, Location("Dockerfile", 6, 6), "Bad:Ref", "Bad:Ref"),
    ImageUse(UseKind.COMPOSE, Location("compose.yaml", 3, 12), "redis:7", "redis:7", service="web"),
    ImageUse(UseKind.COMPOSE, Location("compose.yaml", 6, 12), "me/app", "me/app", pull=False, service="app"),
    ImageUse(
        UseKind.FROM, Location("Dockerfile", 7, 6), "localhost:5000/x", "localhost:5000/x", platform="linux/amd64"
    ),
]


@pytest.mark.parametrize("untrusted", [False, True])
def test_every_registry_rule_is_silent_when_nothing_was_learned(untrusted):
    # What lets evaluate skip them in such a run (offline): a registry rule reads only the facts stage's answers.
    ctx = RuleContext(engine.RuleOptions(untrusted=untrusted))
    registry_rules = [r for r in engine.all_rules() if r.needs_registry]
    assert len(registry_rules) >= 14 and all(r.check is not None for r in registry_rules)
    for subject in resolve_documents(
        [Document("Dockerfile", "dockerfile", uses=tuple(REGISTRY_RULE_SUBJECTS))]
    ).subjects[0]:
        for r in registry_rules:
            assert r.check is not None
            assert list(r.check(subject, ctx)) == [], (r.id, subject.use.written)
