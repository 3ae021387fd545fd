"""Registry rules (PF201-PF209) on hand-built facts: messages, fixes, grouping, never-fire cases."""

from __future__ import annotations

from dataclasses import replace

import pytest

import preflight.rules.registry as rules
from preflight.engine import RuleContext, Selection, Subject, evaluate
from preflight.facts import ImageFacts, Status
from preflight.imageref import ImageRef
from preflight.model import Document, ImageUse, Location, Summary, UseKind
from preflight.resolve import resolve_documents, subject_for

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def use(
    written: str,
    resolved: str | None = None,
    *,
    line: int = 1,
    column: int = 6,
    platform: str | None = None,
    pull: bool = True,
) -> ImageUse:
    loc = Location("Dockerfile", line, column, line, column + len(written))
    return ImageUse(UseKind.FROM, loc, written, written if resolved is None else resolved, platform=platform, pull=pull)


def subject(u: ImageUse, status: Status, **facts: object) -> Subject:
    ref = ImageRef.parse(u.resolved or "")
    return Subject(u, ref, None, ImageFacts(ref.canonical, status, str(facts.pop("host", "reg.example.com")), **facts))


def test_tag_not_found_suggests_and_fixes_the_literal_tag() -> None:
    u = use("python:3.12-slimm", column=6)
    hits = list(
        rules.tag_not_found(subject(u, Status.TAG_MISSING, suggestions=("3.12-slim", "3.11-slim")), RuleContext())
    )
    assert len(hits) == 1
    hit = hits[0]
    assert hit.message == (
        'tag "3.12-slimm" not found in docker.io/library/python; did you mean "3.12-slim"? (also close: "3.11-slim")'
    )
    assert hit.suggestions == ("python:3.12-slim", "python:3.11-slim")
    (fix,) = hit.fixes
    assert (fix.location.column, fix.location.end_column, fix.replacement) == (6 + 7, 6 + 17, "3.12-slim")


def test_tag_not_found_through_a_variable_has_no_fix_and_names_both_spellings() -> None:
    u = use("${BASE}", "python:3.12-slimm")
    (hit,) = rules.tag_not_found(subject(u, Status.TAG_MISSING, suggestions=("3.12-slim",)), RuleContext())
    assert hit.fixes == () and '(written "${BASE}")' in hit.message
    assert hit.suggestions == ("python:3.12-slim",)


def test_implied_latest_and_no_suggestions() -> None:
    (hit,) = rules.tag_not_found(subject(use("ghcr.io/o/app"), Status.TAG_MISSING), RuleContext())
    assert 'has no tag, so Docker pulls "latest"' in hit.message and "no similar tag" in hit.message


def test_repository_not_found_suggests_full_references() -> None:
    (hit,) = rules.repository_not_found(
        subject(use("reg.example.com/acme/pyhton:3"), Status.REPO_MISSING, suggestions=("acme/python",)), RuleContext()
    )
    assert hit.suggestions == ("reg.example.com/acme/python:3",)
    assert 'did you mean "reg.example.com/acme/python:3"?' in hit.message


def test_missing_or_private_is_pf203_anonymous_and_pf204_with_credentials() -> None:
    anonymous = subject(use("someone/app:1"), Status.REPO_MISSING_OR_PRIVATE)
    assert len(list(rules.auth_required(anonymous, RuleContext()))) == 1
    assert list(rules.access_denied(anonymous, RuleContext())) == []
    (hit,) = rules.auth_required(anonymous, RuleContext())
    assert "does not exist, or it is private" in hit.message and "docker login to check" in hit.message

    logged_in = subject(use("someone/app:1"), Status.REPO_MISSING_OR_PRIVATE, credential_source="~/.docker/config.json")
    assert list(rules.auth_required(logged_in, RuleContext())) == []
    (hit,) = rules.access_denied(logged_in, RuleContext())
    assert "~/.docker/config.json" in hit.message

    failed = subject(
        use("ghcr.io/o/app:1"),
        Status.AUTH_FAILED,
        detail="ghcr.io rejected the credentials",
        credential_source="credential helper desktop",
    )
    (hit,) = rules.access_denied(failed, RuleContext())
    assert "credential helper desktop" in hit.message and "docker login ghcr.io" in hit.message


def test_digest_rules() -> None:
    missing = subject(use(f"ghcr.io/o/app@{D1}"), Status.DIGEST_MISSING)
    assert len(list(rules.digest_not_found(missing, RuleContext()))) == 1
    moved = subject(use(f"ghcr.io/o/app:1@{D1}"), Status.OK, digest=D1, tag_digest=D2, tag_children=(D3,))
    (hit,) = rules.digest_tag_mismatch(moved, RuleContext())
    assert D2 in hit.message and "pinned" in hit.message
    child = subject(use(f"ghcr.io/o/app:1@{D3}"), Status.OK, digest=D3, tag_digest=D2, tag_children=(D3,))
    assert list(rules.digest_tag_mismatch(child, RuleContext())) == []
    same = subject(use(f"ghcr.io/o/app:1@{D1}"), Status.OK, digest=D1, tag_digest=D1)
    assert list(rules.digest_tag_mismatch(same, RuleContext())) == []


def wanting(s: Subject, *platforms: str) -> Subject:
    """``s`` as the resolve stage makes it when ``platforms`` are asked for (--platform, config)."""
    return replace(s, platforms=subject_for(s.use, platforms).platforms)


def test_platforms_from_options_and_use() -> None:
    facts = {"platforms": ("linux/amd64", "linux/arm64")}
    ok = wanting(subject(use("python:3", platform="linux/aarch64"), Status.OK, **facts), "linux/amd64")
    assert list(rules.platform_missing(ok, RuleContext())) == []
    bad = wanting(subject(use("python:3", platform="linux/arm/v7"), Status.OK, **facts), "linux/s390x", "linux/amd64")
    (hit,) = rules.platform_missing(bad, RuleContext())
    assert "has no linux/arm/v7 image" in hit.message  # its own platform; --platform is for the others
    wanted = wanting(subject(use("python:3"), Status.OK, **facts), "linux/s390x", "linux/arm64")
    (hit,) = rules.platform_missing(wanted, RuleContext())
    assert "has no linux/s390x image" in hit.message
    unknown = wanting(subject(use("python:3"), Status.OK), "linux/s390x")  # platforms not fetched: no opinion
    assert list(rules.platform_missing(unknown, RuleContext())) == []


@pytest.mark.parametrize(
    "check",
    [
        rules.tag_not_found,
        rules.repository_not_found,
        rules.auth_required,
        rules.access_denied,
        rules.digest_not_found,
        rules.registry_unreachable,
        rules.registry_error,
    ],
)
def test_built_images_and_unlooked_up_uses_never_fire(check) -> None:  # type: ignore[no-untyped-def]
    for status in Status:
        built = subject(use("myorg/app:dev", pull=False), status)
        assert list(check(built, RuleContext())) == []
    assert list(check(Subject(use("x:1"), ImageRef.parse("x:1"), None, None), RuleContext())) == []


def test_unreachable_and_errors_are_reported_once_per_host() -> None:
    uses = [use(f"reg.example.com/o/app:{i}", line=i) for i in range(1, 4)]
    uses.append(use("other.example.com/o/app:1", line=4))
    facts = {}
    for u in uses[:3]:
        ref = ImageRef.parse(u.written)
        facts[ref.canonical] = ImageFacts(
            ref.canonical, Status.NETWORK_REFUSED, "reg.example.com", detail="connection to reg.example.com refused"
        )
    other = ImageRef.parse(uses[3].written)
    facts[other.canonical] = ImageFacts(
        other.canonical,
        Status.NOT_CHECKED,
        "other.example.com",
        detail="the lookup did not finish before the 2 s deadline",
    )
    doc = Document("Dockerfile", "dockerfile", tuple(uses))
    report = evaluate(resolve_documents([doc]), Selection(select=("PF2",)), RuleContext(facts=facts), Summary())
    got = [(f.rule, f.location.line) for f in report.findings]
    assert got == [("PF208", 1), ("PF209", 4)]
    assert "(3 references not checked)" in report.findings[0].message
    assert "did not answer in time (1 reference not checked)" in report.findings[1].message
    assert not any(f.rule in ("PF201", "PF202") for f in report.findings)  # unreachable is never "not found"


def test_rate_limited_message() -> None:
    u = use("python:3")
    s = subject(
        u,
        Status.RATE_LIMITED,
        host="registry-1.docker.io",
        detail="HTTP 429 Too Many Requests; Docker Hub pulls remaining 0 of 100",
    )
    ctx = RuleContext(facts={s.ref.canonical: s.facts})  # type: ignore[union-attr, dict-item]
    (hit,) = rules.registry_error(replace(s), ctx)
    assert hit.message.startswith("registry registry-1.docker.io rate limited (1 reference not checked)")
    assert hit.group == "registry-1.docker.io"
