#!/usr/bin/env python3
"""How often dockerfile-parse's FROM list differs from BuildKit's and from preflight's, over the corpus.

Usage: python bench/dockerfile_parse_agreement.py [CORPUS_DIR]

The project was specified with dockerfile-parse as its Dockerfile parser; preflight reads
Dockerfiles after BuildKit's grammar instead. This script makes that decision measurable: for
every Dockerfile of the corpus it compares the FROM images (start line, first non-flag argument as
written) that each reader sees:

* dockerfile-parse (PyPI ``dockerfile-parse``, pure Python, every platform);
* BuildKit's own parser (PyPI ``dockerfile``, linux x86_64 wheels only; skipped where absent);
* preflight's reader.

It prints the number of files where dockerfile-parse differs from BuildKit and from preflight, the
reasons (files with heredocs, ``# escape=``), and the same counts restricted to the files the
test suite uses it on as an oracle (no heredoc, no escape directive: see
tests/test_dockerfile_parse_oracle.py).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from preflight.dockerfile import scan

Images = list[tuple[int, str]]

_FLAG = re.compile(r"--[A-Za-z0-9-]+(=\S*)?")
_HEREDOC = re.compile(r"<<-?[\"']?[A-Za-z_][A-Za-z0-9_]*")
_ESCAPE = re.compile(r"^#[ \t]*escape[ \t]*=", re.IGNORECASE | re.MULTILINE)


def _first_image(args: str) -> str | None:
    """The first argument of FROM that is not a flag (split on blanks, as BuildKit does)."""
    for word in re.split(r"[\t\v\f\r\n ]+", args):
        if word and not _FLAG.fullmatch(word):
            return word
    return None


def dockerfile_parse_images(text: str) -> Images:
    """FROM images as dockerfile-parse sees them (1-based start line)."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    out: Images = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            image = _first_image(item["value"])
            if image is not None:
                out.append((item["startline"] + 1, image))
    return out


def dockerfile_parse_instructions(text: str) -> Images:
    """(start line, instruction name) for every instruction dockerfile-parse sees (comments left out)."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    return [(i["startline"] + 1, i["instruction"].upper()) for i in parser.structure if i["instruction"] != "COMMENT"]


def buildkit_instructions(text: str) -> Images | None:
    try:
        import dockerfile
    except ImportError:
        return None
    try:
        return [(c.start_line, (c.cmd or "").upper()) for c in dockerfile.parse_string(text)]
    except dockerfile.GoParseError:
        return None


def preflight_images(text: str) -> Images:
    out: Images = []
    for instruction in scan(text).instructions:
        if instruction.cmd.lower() == "from":
            image = _first_image(instruction.args)
            if image is not None:
                out.append((instruction.start_line, image))
    return out


def buildkit_images(text: str) -> Images | None:
    """BuildKit's view, or None when BuildKit's parser is not installed or rejects the file."""
    try:
        import dockerfile
    except ImportError:
        return None
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return None
    out: Images = []
    for command in commands:
        if (command.cmd or "").lower() == "from":
            image = _first_image(" ".join(command.flags + command.value)) if command.value else None
            if image is not None:
                out.append((command.start_line, image))
    return out


def in_oracle_domain(text: str) -> bool:
    """Files where dockerfile-parse is a fair oracle: no heredoc, no escape directive."""
    return not _HEREDOC.search(text) and not _ESCAPE.search(text)


def corpus_dockerfiles(corpus: Path) -> list[Path]:
    index = (corpus / "INDEX.tsv").read_text(encoding="utf-8").splitlines()
    return [corpus / line.split("\t", 1)[1] for line in index if line.startswith("dockerfile\t")]


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    files = corpus_dockerfiles(corpus)
    vs_buildkit = vs_preflight = compared_bk = instr_vs_buildkit = 0
    domain = domain_vs_preflight = 0
    heredoc_files = escape_files = 0
    examples: list[str] = []
    for path in files:
        text = read(path)
        dp = dockerfile_parse_images(text)
        pf = preflight_images(text)
        bk = buildkit_images(text)
        heredoc_files += bool(_HEREDOC.search(text))
        escape_files += bool(_ESCAPE.search(text))
        if bk is not None:
            compared_bk += 1
            vs_buildkit += dp != bk
            instr_vs_buildkit += dockerfile_parse_instructions(text) != buildkit_instructions(text)
        if dp != pf:
            vs_preflight += 1
            if len(examples) < 10:
                only_dp = sorted(set(dp) - set(pf))[:2]
                only_pf = sorted(set(pf) - set(dp))[:2]
                examples.append(
                    f"  {path.relative_to(corpus)}: dockerfile-parse-only {only_dp}, preflight-only {only_pf}"
                )
        if in_oracle_domain(text):
            domain += 1
            domain_vs_preflight += dp != pf
    print(f"{len(files)} Dockerfiles ({heredoc_files} with a heredoc, {escape_files} with an escape directive)")
    if compared_bk:
        print(
            f"dockerfile-parse's FROM list differs from BuildKit's on {vs_buildkit} of {compared_bk} files BuildKit accepts"
        )
        print(
            f"dockerfile-parse's instruction list (start line, name) differs from BuildKit's on {instr_vs_buildkit}"
            f" of {compared_bk} files (heredoc bodies read as instructions; continuation edge cases)"
        )
    else:
        print("BuildKit's parser (PyPI 'dockerfile') is not installed here: no BuildKit comparison")
    print(f"dockerfile-parse's FROM list differs from preflight's on {vs_preflight} of {len(files)} files")
    print(*examples, sep="\n")
    print(
        f"oracle domain (no heredoc, no escape directive): {domain} files, {domain_vs_preflight} differ from preflight"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
