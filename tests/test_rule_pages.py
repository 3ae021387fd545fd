"""Rule pages (``rules/PFxxx.md``) are documentation and tests at once.

Structure (checked for every page, offline and registry rules alike)::

    # PF102 latest-tag          <- ID and the rule's name
                                <- blank line
    <summary line>              <- equal to the rule's summary in code
    ## Why / ## Bad / ## Good   <- in this order; ## Options optional

Executable examples (run here for every rule that does not need a registry; registry pages are
run by ``tests/registry/``):

* Each fenced block in ``## Bad`` / ``## Good`` whose info string starts with ``dockerfile`` or
  ``yaml`` (and has no ``file=``) starts an example. It is written to ``Dockerfile`` or
  ``compose.yaml`` in an empty directory.
* A block with ``file=NAME`` in its info string (```` ```dotenv file=.env ````,
  ```` ```dockerfile file=api/Dockerfile ````) is one more file of the example just above it
  in the same section: a compose ``.env``, a Dockerfile that a compose service builds, ...
* ``build-arg=KEY=VALUE`` (repeatable) in an info string passes ``--build-arg KEY=VALUE``;
  ``env=KEY=VALUE`` puts KEY into the (otherwise empty) environment of the run.
* A ``yaml preflight-config`` block (usually in ``## Options``) is the ``.preflight.yaml`` of
  every example of the page.
* Blocks marked ``text``, ``console``, ``sh``, ``shell`` or ``bash`` are illustration only.
* Markers: a whole-line comment ``# expect: PF102`` (or ``# expect: PF101, PF103``) stands
  above the line that must be reported; consecutive marker lines all refer to the first
  non-marker line below them. For a multi-line instruction, mark the line holding the image.
  ``# syntax=`` must be the first line of a Dockerfile, so it cannot be marked.

Each example runs through the real pipeline (discovery, readers, engine), offline, with the
example directory as working directory. The findings of the checked rules must be exactly the
marked (rule, file, line) triples. Checked rules: the page's rule, every rule named in a marker
of the example, and the input rules PF001-PF003 (an example must not be broken by accident).
A ``## Good`` example must not mark the page's rule.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from preflight.config import Config
from preflight.engine import all_rules, get_rule
from preflight.model import Finding, Report

PAGES_DIR = Path(__file__).resolve().parents[1] / "rules"
PAGE_NAME = re.compile(r"PF\d{3}\.md")
TITLE = re.compile(r"# (PF\d{3}) ([a-z0-9]+(?:-[a-z0-9]+)*)")
MARKER = re.compile(r"\s*#\s*expect:\s*(PF\d{3}(?:\s*,\s*PF\d{3})*)\s*")
FENCE = re.compile(r"(`{3,})\s*(.*)")
REQUIRED = ("Why", "Bad", "Good")
OPTIONAL = ("Options",)
INPUT_RULES = frozenset({"PF001", "PF002", "PF003"})
MAIN_FILES = {"dockerfile": "Dockerfile", "yaml": "compose.yaml", "yml": "compose.yaml"}
ILLUSTRATION = frozenset({"text", "console", "sh", "shell", "bash"})


# ----------------------------------------------------------------- reading pages


@dataclass(frozen=True)
class Block:
    section: str  # heading text of the enclosing "## " section, "" before the first
    info: str  # the info string after the opening fence
    text: str
    line: int  # line of the opening fence in the page, for messages

    @property
    def words(self) -> list[str]:
        return shlex.split(self.info)

    def attrs(self, key: str) -> list[str]:
        return [w.split("=", 1)[1] for w in self.words[1:] if w.startswith(key + "=")]


@dataclass
class Example:
    section: str
    line: int
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content
    build_args: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, block: Block) -> None:
        assert name not in self.files, f"page line {block.line}: {name} given twice in one example"
        self.files[name] = block.text
        self.build_args.update(_pairs(block.attrs("build-arg"), block))
        self.environ.update(_pairs(block.attrs("env"), block))


def _pairs(items: list[str], block: Block) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        assert sep and key, f"page line {block.line}: expected KEY=VALUE, got {item!r}"
        out[key] = value
    return out


def page_paths() -> list[Path]:
    return sorted(p for p in PAGES_DIR.glob("PF*.md") if PAGE_NAME.fullmatch(p.name))


def sections(text: str) -> list[str]:
    """The ``## `` headings, outside fenced blocks, in order."""
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and (fence is None or (line.strip() == fence)):
            fence = m.group(1) if fence is None else None
            continue
        if fence is None and line.startswith("## "):
            out.append(line[3:].strip())
    return out


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        m = FENCE.match(line)
        if m:
            fence, info = m.group(1), m.group(2).strip()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), None)
            assert end is not None, f"page line {i + 1}: unterminated code block"
            body = "\n".join(lines[i + 1 : end])
            out.append(Block(section, info, body + "\n" if body else "", i + 1))
            i = end
        i += 1
    return out


def examples(text: str) -> tuple[list[Example], str | None]:
    """The runnable examples of a page and its preflight configuration (or None)."""
    found: list[Example] = []
    config: str | None = None
    for block in blocks(text):
        words = block.words
        lang = words[0].lower() if words else ""
        if "preflight-config" in words[1:]:
            assert config is None, f"page line {block.line}: a second preflight-config block"
            config = block.text
            continue
        if block.section not in ("Bad", "Good") or lang in ILLUSTRATION:
            continue
        names = block.attrs("file")
        if names:
            last = found[-1] if found else None
            assert last is not None and last.section == block.section, (
                f"page line {block.line}: a file= block must follow an example in the same section"
            )
            last.add(names[0], block)
            continue
        assert lang in MAIN_FILES, f"page line {block.line}: unknown example language {lang!r}"
        example = Example(block.section, block.line)
        example.add(MAIN_FILES[lang], block)
        found.append(example)
    return found, config


def expectations(example: Example) -> set[tuple[str, str, int]]:
    """(rule, file, line) for every ``# expect:`` marker of the example's files."""
    out: set[tuple[str, str, int]] = set()
    for name, content in example.files.items():
        pending: list[str] = []
        for number, line in enumerate(content.splitlines(), start=1):
            m = MARKER.fullmatch(line)
            if m:
                pending.extend(r.strip() for r in m.group(1).split(","))
                continue
            out.update((rule_id, name, number) for rule_id in pending)
            pending = []
        assert not pending, f"{name}: '# expect:' marker on the last line marks nothing"
    return out


# ----------------------------------------------------------------- structure


def test_pages_and_rules_match_both_ways() -> None:
    registered = {r.id for r in all_rules()}
    pages = {p.stem for p in page_paths()}
    assert registered, "no rules registered"
    assert sorted(registered - pages) == [], "rules without a page in rules/"
    assert sorted(pages - registered) == [], "pages without a registered rule"


def test_only_rule_pages_in_rules_folder() -> None:
    stray = [p.name for p in PAGES_DIR.iterdir() if p.suffix == ".md" and not PAGE_NAME.fullmatch(p.name)]
    assert stray == []


@pytest.mark.parametrize("path", page_paths(), ids=lambda p: p.stem)
def test_page_structure(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    rule = get_rule(path.stem)
    assert rule is not None, f"{path.name}: no registered rule {path.stem}"
    title = TITLE.fullmatch(lines[0])
    assert title is not None, f"{path.name}: first line must be '# {rule.id} {rule.name}'"
    assert (title.group(1), title.group(2)) == (rule.id, rule.name)
    assert lines[1] == "", f"{path.name}: the title must be followed by one blank line"
    assert lines[2] == rule.summary, f"{path.name}: summary line differs from the rule's summary in code"
    heads = sections(text)
    required = [h for h in heads if h in REQUIRED]
    assert required == list(REQUIRED), f"{path.name}: sections {heads}, want {REQUIRED} in order"
    assert all(h in REQUIRED + OPTIONAL for h in heads), f"{path.name}: unexpected section in {heads}"
    if "Options" in heads:
        assert heads.index("Options") > heads.index("Good")
    marked = [b for b in blocks(text) if b.section == "Bad" and re.search(rf"#\s*expect:.*\b{rule.id}\b", b.text)]
    assert marked, f"{path.name}: ## Bad needs an example with '# expect: {rule.id}'"
    assert any(b.section == "Good" for b in blocks(text)), f"{path.name}: ## Good needs an example"


# ----------------------------------------------------------------- execution


def offline_pages() -> list[Path]:
    out = []
    for path in page_paths():
        rule = get_rule(path.stem)
        if rule is not None and not rule.needs_registry:
            out.append(path)
    return out


def _config(tmp: Path, config_text: str | None, build_args: dict[str, str]) -> Config:
    config = Config()
    if config_text is not None:
        from preflight.config import load_config

        path = tmp / ".preflight.yaml"
        path.write_text(config_text, encoding="utf-8")
        config = load_config(tmp, path)
    return replace(config, build_args={**config.build_args, **build_args})


def run_example(example: Example, config_text: str | None, tmp: Path) -> tuple[Finding, ...]:
    """Write the example's files into ``tmp`` and check them offline with the real pipeline."""
    return example_report(example, config_text, tmp).findings


def example_report(example: Example, config_text: str | None, tmp: Path) -> Report:
    from preflight.pipeline import check_paths

    for name, content in example.files.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    config = _config(tmp, config_text, example.build_args)
    return check_paths(["."], config, cwd=tmp, environ=dict(example.environ), offline=True)


def test_every_page_example_renders_valid_sarif(tmp_path: Path) -> None:
    """Each offline page example's report, rendered as SARIF, passes the schema and GitHub's checks."""
    from sarif_support import github_problems, make_validator, schema_errors

    from preflight.engine import all_rules
    from preflight.report import render

    validator = make_validator()
    rendered = 0
    for path in offline_pages():
        found, config_text = examples(path.read_text(encoding="utf-8"))
        for n, example in enumerate(found):
            tmp = tmp_path / f"{path.stem}-{n}"
            report = example_report(example, config_text, tmp)
            doc = json.loads(render(report, "sarif", rules=all_rules(), cwd=tmp))
            problems = schema_errors(validator, doc) + github_problems(doc)
            assert problems == [], f"{path.name} example at line {example.line}: {problems}"
            rendered += len(doc["runs"][0]["results"])
    assert rendered > 10


@pytest.mark.parametrize("path", offline_pages(), ids=lambda p: p.stem)
def test_page_examples(path: Path, tmp_path: Path) -> None:
    rule_id = path.stem
    found, config_text = examples(path.read_text(encoding="utf-8"))
    assert any(e.section == "Bad" for e in found) and any(e.section == "Good" for e in found)
    failures: list[str] = []
    for n, example in enumerate(found):
        expected = expectations(example)
        if example.section == "Good":
            assert not any(r == rule_id for r, _, _ in expected), (
                f"{path.name} line {example.line}: a Good example marks {rule_id}"
            )
        else:
            assert any(r == rule_id for r, _, _ in expected), (
                f"{path.name} line {example.line}: a Bad example without '# expect: {rule_id}'"
            )
        checked = {rule_id, *INPUT_RULES, *(r for r, _, _ in expected)}
        findings = run_example(example, config_text, tmp_path / f"example{n}")
        got = {(f.rule, f.location.path, f.location.line) for f in findings if f.rule in checked}
        if got != expected:
            detail = "\n".join(
                f"    {f.location.path}:{f.location.line}:{f.location.column} {f.rule} {f.message}"
                for f in findings
                if f.rule in checked
            )
            failures.append(
                f"{path.name} {example.section} example at page line {example.line}:\n"
                f"  missing:    {sorted(expected - got)}\n"
                f"  unexpected: {sorted(got - expected)}\n  findings:\n{detail}"
            )
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------- the harness itself


def test_markers_refer_to_the_next_non_marker_line() -> None:
    example = Example(
        "Bad", 1, {"Dockerfile": "# expect: PF101\n# expect: PF102, PF103\nFROM x\n\n# expect: PF104\nFROM y\n"}
    )
    assert expectations(example) == {
        ("PF101", "Dockerfile", 3),
        ("PF102", "Dockerfile", 3),
        ("PF103", "Dockerfile", 3),
        ("PF104", "Dockerfile", 6),
    }


def test_examples_attach_files_and_read_attributes() -> None:
    page = (
        "## Bad\n\n```yaml env=A=1\nservices: {}\n```\n\n```dotenv file=.env\nT=latest\n```\n\n"
        "## Good\n\n```dockerfile build-arg=V=3.12 build-arg=W=a=b\nFROM x\n```\n\n"
        "## Options\n\n```yaml preflight-config\nselect: [PF]\n```\n"
    )
    found, config = examples(page)
    assert config == "select: [PF]\n"
    assert [(e.section, sorted(e.files)) for e in found] == [
        ("Bad", [".env", "compose.yaml"]),
        ("Good", ["Dockerfile"]),
    ]
    assert found[0].environ == {"A": "1"} and found[1].build_args == {"V": "3.12", "W": "a=b"}


def test_file_block_without_an_example_is_an_error() -> None:
    with pytest.raises(AssertionError, match="must follow an example"):
        examples("## Good\n\n```dotenv file=.env\nT=1\n```\n")
