#!/usr/bin/env python3
"""How often preflight's Dockerfile reader agrees with BuildKit's own parser on the corpus.

Usage: python bench/buildkit_agreement.py [CORPUS_DIR]

BuildKit's parser is the PyPI package ``dockerfile`` (Go code, linux x86_64 wheels only).
For every Dockerfile of the corpus (INDEX.tsv kind=dockerfile) that BuildKit accepts, both
readers must give the same instructions (start line, end line, name as written, flags) and the
same FROM images (start line of the instruction, first argument as written). Prints
"N files compared, M agree, K rejected by BuildKit" and the time preflight takes to read
(scan + resolve) every Dockerfile of the corpus.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from preflight.dockerfile import parse_dockerfile, scan

Row = tuple[int, int, str, tuple[str, ...]]


class Rejected(Exception):
    """BuildKit's parser refuses the file."""


def buildkit_view(text: str) -> tuple[list[Row], set[tuple[int, str]]]:
    """Instructions and FROM images as BuildKit's parser sees them; raises Rejected."""
    import dockerfile

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise Rejected(str(exc)) from None
    rows = [(c.start_line, c.end_line, c.cmd or "", tuple(c.flags)) for c in commands]
    images = {(c.start_line, c.value[0]) for c in commands if (c.cmd or "").lower() == "from" and c.value}
    return rows, images


def preflight_view(text: str) -> tuple[list[Row], set[tuple[int, str]]]:
    """The same from preflight.dockerfile.scan."""
    instructions = scan(text).instructions
    rows = [(i.start_line, i.end_line, i.cmd, tuple(f.text for f in i.flags)) for i in instructions]
    images = {(i.start_line, _words(i.args)[0]) for i in instructions if i.cmd.lower() == "from" and _words(i.args)}
    return rows, images


def _words(args: str) -> list[str]:
    """BuildKit splits FROM arguments on [\\t\\v\\f\\r ] only."""
    return [w for w in re.split(r"[\t\v\f\r ]+", args) if w]


def disagreement(text: str) -> str | None:
    """None when both readers agree; else a short description. Raises Rejected."""
    bk_rows, bk_images = buildkit_view(text)
    pf_rows, pf_images = preflight_view(text)
    if bk_images != pf_images:
        return f"FROM images: BuildKit-only {sorted(bk_images - pf_images)}, preflight-only {sorted(pf_images - bk_images)}"
    for bk, pf in zip(bk_rows, pf_rows, strict=False):
        if bk != pf:
            return f"instruction: BuildKit {bk} != preflight {pf}"
    if len(bk_rows) != len(pf_rows):
        return f"instruction count: BuildKit {len(bk_rows)} != preflight {len(pf_rows)}"
    return None


def corpus_dockerfiles(corpus: Path) -> list[Path]:
    index = (corpus / "INDEX.tsv").read_text(encoding="utf-8").splitlines()
    return [corpus / line.split("\t", 1)[1] for line in index if line.startswith("dockerfile\t")]


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    texts = [(p, read(p)) for p in corpus_dockerfiles(corpus)]
    compared = agree = rejected = 0
    for path, text in texts:
        try:
            problem = disagreement(text)
        except Rejected:
            rejected += 1
            continue
        compared += 1
        if problem is None:
            agree += 1
        else:
            print(f"{path.relative_to(corpus)}: {problem}")
    print(f"{compared} files compared, {agree} agree, {rejected} rejected by BuildKit")
    best = min(_read_all(texts) for _ in range(5))
    lines = sum(t.count("\n") for _, t in texts)
    print(f"preflight read {len(texts)} Dockerfiles ({lines} lines) in {best * 1000:.0f} ms (best of 5)")
    return 0 if agree == compared else 1


def _read_all(texts: list[tuple[Path, str]]) -> float:
    start = time.perf_counter()
    for path, text in texts:
        parse_dockerfile(text, str(path))
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
