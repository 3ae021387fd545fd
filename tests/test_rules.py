"""Unit tests of the offline rules (PF0xx, PF1xx) on hand-built image uses.

No reader is involved: each test builds ``ImageUse`` objects and runs the real engine.
"""

from __future__ import annotations

import pytest

from preflight.engine import RuleContext, RuleOptions, Selection, evaluate, get_rule
from preflight.model import (
    Document,
    Finding,
    ImageUse,
    Level,
    Location,
    Problem,
    Summary,
    UseKind,
)
from preflight.resolve import resolve_documents
from preflight.rules.offline import TRUSTED_REGISTRIES, is_trusted

DIGEST = "sha256:" + "a" * 64


def use(
    written: str,
    resolved: str | None = "",
    *,
    kind: UseKind = UseKind.FROM,
    unresolved: tuple[str, ...] = (),
    var_errors: tuple[str, ...] = (),
    pull: bool = True,
    line: int = 3,
    column: int = 6,
    span: bool = False,
) -> ImageUse:
    """An image use; ``resolved=""`` means "same as written"."""
    res = written if resolved == "" else resolved
    end = column + len(written) if span else None
    loc = Location("Dockerfile" if kind is not UseKind.COMPOSE else "compose.yaml", line, column, None, end)
    return ImageUse(kind, loc, written, res, unresolved, var_errors, pull=pull)


def run(
    *uses: ImageUse,
    select: tuple[str, ...] = (),
    trusted: tuple[str, ...] = (),
    problems: tuple[Problem, ...] = (),
) -> list[Finding]:
    doc = Document("Dockerfile", "dockerfile", uses=uses, problems=problems)
    ctx = RuleContext(RuleOptions({TRUSTED_REGISTRIES.key: trusted}))
    return list(evaluate(resolve_documents([doc]), Selection(select=select), ctx, Summary()).findings)


def only(findings: list[Finding], rule_id: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule_id]


# ----------------------------------------------------------------- registration


@pytest.mark.parametrize(
    ("rule_id", "name", "level"),
    [
        ("PF001", "parse-error", Level.ERROR),
        ("PF002", "invalid-reference", Level.ERROR),
        ("PF003", "unresolved-variable", Level.WARNING),
        ("PF101", "missing-tag", Level.WARNING),
        ("PF102", "latest-tag", Level.WARNING),
        ("PF103", "unpinned-digest", Level.OFF),
        ("PF104", "untrusted-registry", Level.ERROR),
    ],
)
def test_rule_ids_names_and_levels_are_the_public_contract(rule_id: str, name: str, level: Level) -> None:
    r = get_rule(rule_id)
    assert r is not None
    assert (r.name, r.level, r.needs_registry) == (name, level, False)
    assert (r.check is None) == (rule_id == "PF001")


# ----------------------------------------------------------------- PF001


def test_pf001_reader_problems_are_reported_with_their_location() -> None:
    problem = Problem("PF001", Location("compose.yaml", 4, 1), "invalid YAML: tab character")
    [f] = run(problems=(problem,))
    assert (f.rule, f.level, f.location.line, f.message) == ("PF001", Level.ERROR, 4, "invalid YAML: tab character")


# ----------------------------------------------------------------- PF002


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("Python:3.12", "lowercase"),
        ("app:", "tag is empty"),
        ("python@sha256:" + "a" * 40, "sha256 digest must have 64 hex characters, not 40"),
        ("python:3.12 slim", "whitespace"),
    ],
)
def test_pf002_reports_invalid_references_with_the_reason(written: str, reason: str) -> None:
    [f] = only(run(use(written)), "PF002")
    assert f.level is Level.ERROR
    assert f'"{written}" is not a valid image reference' in f.message
    assert reason in f.message


def test_pf002_names_the_image_as_written_and_resolved() -> None:
    [f] = only(run(use("${IMAGE}", "app:")), "PF002")
    assert '"${IMAGE}" (resolves to "app:")' in f.message
    assert f.image == "${IMAGE}"
    assert f.fixes == ()


def test_pf002_offers_a_lowercase_fix_when_the_span_is_the_written_text() -> None:
    [f] = only(run(use("ghcr.io/MyOrg/App:V1", span=True)), "PF002")
    [fix] = f.fixes
    assert fix.replacement == "ghcr.io/myorg/app:V1"  # host and tag keep their case
    assert fix.location == f.location
    assert f.suggestions == ("ghcr.io/myorg/app:V1",)
    assert 'write it in lower case: "ghcr.io/myorg/app:V1"' in f.message


def test_pf002_no_fix_without_a_known_span() -> None:
    [f] = only(run(use("Python:3.12")), "PF002")
    assert f.fixes == ()
    assert "[registry/]repository[:tag][@digest]" in f.message


def test_pf002_silent_for_valid_and_unresolved_references() -> None:
    findings = run(use("python:3.12"), use("${X}", None, unresolved=("X",)), use("localhost:5000/app:1"))
    assert only(findings, "PF002") == []


def test_pf002_applies_to_images_that_are_built() -> None:
    [f] = only(run(use("My/App", kind=UseKind.COMPOSE, pull=False)), "PF002")
    assert "lowercase" in f.message


# ----------------------------------------------------------------- PF003


def test_pf003_dockerfile_advice_names_build_arg_and_arg_default() -> None:
    [f] = only(run(use("python:${TAG}", None, unresolved=("TAG",))), "PF003")
    assert f.level is Level.WARNING
    assert 'variable $TAG in "python:${TAG}" has no value and no default' in f.message
    assert "--build-arg TAG=<value>" in f.message
    assert "ARG TAG=<default> before the first FROM" in f.message
    assert "${TAG:-<default>}" in f.message


def test_pf003_copy_from_advice_has_no_first_from_hint() -> None:
    [f] = only(run(use("${IMG}", None, kind=UseKind.COPY_FROM, unresolved=("IMG",))), "PF003")
    assert "ARG IMG=<default>," in f.message
    assert "before the first FROM" not in f.message


def test_pf003_compose_advice_names_env_and_default() -> None:
    [f] = only(run(use("${REG}/app:${TAG}", None, kind=UseKind.COMPOSE, unresolved=("REG", "TAG"))), "PF003")
    assert "variables $REG, $TAG in" in f.message and "have no value" in f.message
    assert "set REG in the environment or in .env" in f.message
    assert "--build-arg" not in f.message


def test_pf003_reports_required_variable_messages() -> None:
    u = use(
        "app:${TAG:?set TAG to the release}", None, kind=UseKind.COMPOSE, var_errors=("TAG: set TAG to the release",)
    )
    [f] = only(run(u), "PF003")
    assert '"app:${TAG:?set TAG to the release}" requires $TAG: set TAG to the release' in f.message
    assert "set TAG in the environment or in .env" in f.message
    assert ":-<default>" not in f.message  # the author made it required: no default advice
    assert only(run(u), "PF002") == []


def test_pf003_required_build_arg() -> None:
    [f] = only(run(use("app:${TAG?}", None, var_errors=("TAG: not set",))), "PF003")
    assert '"app:${TAG?}" requires $TAG: not set' in f.message
    assert "pass --build-arg TAG=<value> or give ARG TAG a value before the first FROM" in f.message


def test_pf003_silent_when_everything_resolves() -> None:
    assert only(run(use("python:${TAG}", "python:3.12")), "PF003") == []


# ----------------------------------------------------------------- PF101


def test_pf101_untagged_image() -> None:
    [f] = only(run(use("python")), "PF101")
    assert f.level is Level.WARNING
    assert '"python" has no tag' in f.message and '"python:latest"' in f.message
    assert '"python:<version>"' in f.message
    assert f.fixes == ()


def test_pf101_resolved_through_a_variable() -> None:
    [f] = only(run(use("${BASE}", "myorg/app")), "PF101")
    assert '"${BASE}" (resolves to "myorg/app")' in f.message


@pytest.mark.parametrize(
    "written",
    ["python:3.12", f"python@{DIGEST}", "localhost:5000/foo:1", "scratch", "python:latest"],
)
def test_pf101_silent(written: str) -> None:
    assert only(run(use(written)), "PF101") == []


def test_pf101_registry_port_is_not_a_tag() -> None:
    [f] = only(run(use("localhost:5000/foo")), "PF101")
    assert '"localhost:5000/foo:latest"' in f.message


def test_pf101_covers_every_kind_of_pulled_use() -> None:
    kinds = [UseKind.FROM, UseKind.COPY_FROM, UseKind.MOUNT_FROM, UseKind.SYNTAX, UseKind.COMPOSE]
    findings = run(*(use("busybox", kind=k, line=i + 1) for i, k in enumerate(kinds)))
    assert [f.location.line for f in only(findings, "PF101")] == [1, 2, 3, 4, 5]


def test_pf1xx_skip_images_that_are_built() -> None:
    built = use("myorg/app", kind=UseKind.COMPOSE, pull=False)
    assert run(built, select=("PF",), trusted=("ghcr.io",)) == []


# ----------------------------------------------------------------- PF102


def test_pf102_latest_tag() -> None:
    [f] = only(run(use("nginx:latest", kind=UseKind.COMPOSE)), "PF102")
    assert '"nginx:latest" uses the "latest" tag' in f.message
    assert '"nginx:<version>"' in f.message


def test_pf102_latest_through_a_default() -> None:
    [f] = only(run(use("nginx:${TAG:-latest}", "nginx:latest")), "PF102")
    assert '(resolves to "nginx:latest")' in f.message


@pytest.mark.parametrize("written", [f"nginx:latest@{DIGEST}", "nginx:Latest", "nginx", "docker/dockerfile:1"])
def test_pf102_silent(written: str) -> None:
    assert only(run(use(written, kind=UseKind.SYNTAX)), "PF102") == []


# ----------------------------------------------------------------- PF103


def test_pf103_is_off_by_default() -> None:
    assert only(run(use("python:3.12")), "PF103") == []


def test_pf103_selected_reports_a_warning_with_the_pin_to_write() -> None:
    [f] = only(run(use("python:3.12"), select=("PF103",)), "PF103")
    assert f.level is Level.WARNING
    assert '"python:3.12@sha256:<digest>"' in f.message
    assert "docker buildx imagetools inspect python:3.12" in f.message


def test_pf103_untagged_pin_shows_latest() -> None:
    [f] = only(run(use("ghcr.io/o/r"), select=("PF103",)), "PF103")
    assert '"ghcr.io/o/r:latest@sha256:<digest>"' in f.message


def test_pf103_silent_with_a_digest() -> None:
    assert run(use(f"python:3.12@{DIGEST}"), use("scratch"), select=("PF103",)) == []


# ----------------------------------------------------------------- PF104


def test_pf104_off_without_trusted_registries() -> None:
    assert only(run(use("quay.io/o/r:1")), "PF104") == []


def test_pf104_names_the_registry_and_the_allowed_list() -> None:
    [f] = only(run(use("quay.io/o/r:1"), trusted=("docker.io", "*.gcr.io")), "PF104")
    assert f.level is Level.ERROR
    assert 'from registry "quay.io"' in f.message
    assert "trusted-registries (docker.io, *.gcr.io)" in f.message
    assert 'add "quay.io" to trusted-registries' in f.message


def test_pf104_docker_hub_implicit_registry() -> None:
    [f] = only(run(use("python:3.12"), trusted=("ghcr.io",)), "PF104")
    assert 'from registry "docker.io"' in f.message
    assert only(run(use("python:3.12"), trusted=("docker.io",)), "PF104") == []


@pytest.mark.parametrize(
    ("domain", "patterns", "expected"),
    [
        ("docker.io", ("docker.io",), True),
        ("index.docker.io", ("docker.io",), True),
        ("registry-1.docker.io", ("docker.io",), True),
        ("docker.io", ("index.docker.io",), True),
        ("docker.io", ("hub.docker.com",), True),
        ("HUB.docker.com", ("docker.io",), False),  # a reference naming the website pulls from no registry
        ("eu.gcr.io", ("*.gcr.io",), True),
        ("gcr.io", ("*.gcr.io",), False),
        ("evilgcr.io", ("*.gcr.io",), False),
        ("registry.example.com:5000", ("registry.example.com*",), True),
        ("registry.example.com", ("registry.example.com:5000",), False),
        ("GHCR.IO", ("ghcr.io",), True),
        ("anything.example", ("*",), True),
        ("localhost:5000", ("localhost:5000",), True),
        ("localhost:5001", ("localhost:5000",), False),
        ("ghcr.io", ("", " "), False),
        ("a.b.io", ("a?b.io",), False),  # only '*' is special
    ],
)
def test_is_trusted(domain: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert is_trusted(domain, patterns) is expected


def test_pf104_covers_copy_from_and_mount_from() -> None:
    uses = (use("quay.io/a:1", kind=UseKind.COPY_FROM, line=5), use("quay.io/b:1", kind=UseKind.MOUNT_FROM, line=6))
    assert [f.location.line for f in run(*uses, trusted=("docker.io",))] == [5, 6]


# ----------------------------------------------------------------- engine integration


def test_suppression_comment_covers_a_rule_on_its_line() -> None:
    from preflight.model import Suppressions

    doc = Document(
        "Dockerfile",
        "dockerfile",
        uses=(use("python", line=2), use("nginx:latest", line=4)),
        suppressions=Suppressions(by_line={2: frozenset({"PF101"})}),
    )
    report = evaluate(resolve_documents([doc]), Selection(), RuleContext(), Summary())
    assert [(f.rule, f.location.line) for f in report.findings] == [("PF102", 4)]


def test_several_rules_on_one_use() -> None:
    findings = run(use("quay.io/o/r"), select=("PF1",), trusted=("docker.io",))
    assert sorted(f.rule for f in findings) == ["PF101", "PF103", "PF104"]


@pytest.mark.parametrize(
    ("written", "placeholder"),
    [
        ("REPLACE-ME", True),
        ("YOUR_IMAGE_HERE", True),
        ("<your-image>", True),
        ("{{ image }}", True),
        ("MyOrg/App:1.0", False),
        ("Python:3.12", False),
        ("ghcr.io/Acme/Tool:2", False),
    ],
)
def test_invalid_reference_placeholder_is_not_told_to_lower_case(written: str, placeholder: bool) -> None:
    [finding] = only(run(use(written, span=True)), "PF002")
    assert ("placeholder" in finding.message) is placeholder
    assert ("lower case" in finding.message) is (not placeholder)
