"""Property over the real-world corpus (../shared/corpus): ``preflight fix`` either changes nothing
or changes only reference text. Registry answers are made up (every tag exists with a digest, for
--pin; every tag is missing with a one-letter-longer suggestion, for typo fixes), the edits are
planned and applied in memory, and before/after are parsed again: the same instructions, the same
YAML keys and scalars (but the references), the same comments."""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from sharedfiles import CORPUS

from preflight.config import Config
from preflight.dockerfile import parse_dockerfile, scan
from preflight.engine import RuleContext, RuleOptions, evaluate
from preflight.facts import ImageFacts, Status
from preflight.fix.edits import apply
from preflight.fix.plan import Options, plan
from preflight.fix.run import read_sources
from preflight.model import Summary
from preflight.pipeline import load, selection_of
from preflight.resolve import Resolved
from preflight.yamlpos import Map, Node, Scalar, Seq, comments
from preflight.yamlpos import load as load_yaml

pytestmark = pytest.mark.slow  # fix over the whole corpus: out of the fast loop, always in CI


if not CORPUS.is_dir():
    if os.environ.get("CI"):
        pytest.fail(f"corpus missing at {CORPUS}", pytrace=False)
    pytest.skip("corpus not available", allow_module_level=True)


def made_up_facts(loaded: Resolved, typos: bool) -> dict[str, ImageFacts]:
    facts: dict[str, ImageFacts] = {}
    for subject in loaded.all_subjects():
        ref = subject.ref
        if ref is None:
            continue
        digest = "sha256:" + hashlib.sha256(ref.canonical.encode()).hexdigest()
        if typos and ref.tag is not None and ref.digest is None:
            facts[ref.canonical] = ImageFacts(ref.canonical, Status.TAG_MISSING, "r", suggestions=(ref.tag + "x",))
        else:
            facts[ref.canonical] = ImageFacts(ref.canonical, Status.OK, "r", digest=digest, tag_digest=digest)
    return facts


def scalars(node: Node | None, out: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Scalar):
            out.append(("scalar", n.value))
        elif isinstance(n, Map):
            out.append(("map", None))
            for k, v in reversed(n.pairs):
                stack += [v, k]
        elif isinstance(n, Seq):
            out.append(("seq", None))
            stack += reversed(n.items)
    return out


def _notes(lines: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Comment lines, the ``# syntax=`` directive (a reference fix may pin) reduced to its name."""
    return tuple("# syntax=" if re.match(r"#\s*syntax\s*=", c, re.I) else c for c in lines)


@pytest.mark.parametrize("typos", [False, True], ids=["pin", "typos"])
def test_fix_changes_only_reference_text(typos: bool) -> None:
    config = Config()
    loaded = load(["."], config, cwd=CORPUS, environ={})
    facts = made_up_facts(loaded, typos)
    options = RuleOptions()
    report = evaluate(loaded, selection_of(config), RuleContext(options, facts), Summary())
    sources = read_sources(loaded.documents, CORPUS)
    edits = plan(loaded, report, facts, Options(pin=not typos, update_digests=True), sources)
    written = {u.written for d in loaded.documents for u in d.uses}
    assert len(edits.changes) > 500  # the property is exercised, not vacuous
    kinds = {d.path: d.kind for d in loaded.documents}
    for path, changes in edits.by_path().items():
        before = sources[path].text
        after = apply(before, {c.edit for c in changes})
        assert after != before
        if kinds[path] == "dockerfile":
            a, b = scan(before), scan(after)
            assert [
                (i.cmd, i.start_line, i.end_line, _notes(i.comments), len(i.args.split())) for i in a.instructions
            ] == [(i.cmd, i.start_line, i.end_line, _notes(i.comments), len(i.args.split())) for i in b.instructions], (
                path
            )
            assert [(n, _notes([c])) for n, c in a.comments] == [(n, _notes([c])) for n, c in b.comments], path
            differing = [x.cmd.lower() for x, y in zip(a.instructions, b.instructions, strict=True) if x.text != y.text]
            assert set(differing) <= {"from", "arg", "copy", "run"}, path
            resolved = {u.resolved for u in parse_dockerfile(after, path).uses}
            assert {c.after for c in changes if c.after in after} <= resolved, path
        else:
            a, b = load_yaml(before), load_yaml(after)
            assert not b.issues, path
            shape_a = [s for root in a.documents for s in scalars(root, [])]
            shape_b = [s for root in b.documents for s in scalars(root, [])]
            assert len(shape_a) == len(shape_b), path
            for x, y in zip(shape_a, shape_b, strict=True):
                assert x[0] == y[0] and (x == y or x[1] in written), (path, x, y)
            assert list(comments(a.lines, a.spans, "#")) == list(comments(b.lines, b.spans, "#")), path
