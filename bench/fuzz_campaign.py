#!/usr/bin/env python3
"""Long fuzz campaign over preflight's readers, outside the normal test run.

Usage:
  python bench/fuzz_campaign.py [--minutes 12] [--targets imageref,dockerfile,...] [--engine auto|atheris|hypothesis]
  python bench/fuzz_campaign.py --big      # time and peak memory of the hostile-size inputs

Each target is a function ``bytes -> None`` that raises only when a property is broken (an
unexpected exception, a location outside the file, a failed round trip). Each runs in its own
process for its share of the time: with atheris (libFuzzer, coverage guided, seeded from the
corpus in ../shared/corpus when present, with a dictionary of Dockerfile/compose tokens) when it
is installed (``pip install atheris``), else with hypothesis (random bytes, no coverage feedback).
Crashing inputs are saved under --workdir. A summary table says, per target, how many inputs
were tried and what was found.

``--big`` runs ``preflight check --offline`` on generated hostile inputs (50 MB Dockerfiles of
several shapes, a 10,000-line continuation, YAML billion laughs and deep nesting) beside a normal
Dockerfile and prints wall time and peak RSS (wait4) of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))  # fuzz this checkout, whatever copy of preflight is installed
SPLIT = b"\n%%\n"  # separates the files of one multi-file input

# ----------------------------------------------------------------- targets


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _within(path_lines: dict[str, list[str]], loc: object, what: str) -> None:
    """A location points into its file; a one-line extent covers exactly the written text."""
    lines = path_lines.get(loc.path)  # type: ignore[attr-defined]
    assert lines is not None, f"{what}: unknown path {loc.path!r}"  # type: ignore[attr-defined]
    assert 1 <= loc.line <= len(lines), f"{what}: line {loc.line} outside 1..{len(lines)}"  # type: ignore[attr-defined]
    assert loc.column >= 1, f"{what}: column {loc.column}"  # type: ignore[attr-defined]


def _written_at(lines: list[str], use: object) -> None:
    loc = use.location  # type: ignore[attr-defined]
    if loc.end_line == loc.line and loc.end_column is not None:
        got = lines[loc.line - 1][loc.column - 1 : loc.end_column - 1]
        assert got == use.written, f"use at {loc.line}:{loc.column} covers {got!r}, written {use.written!r}"  # type: ignore[attr-defined]


def t_imageref(data: bytes) -> None:
    from preflight.imageref import ImageRef, ReferenceError

    try:
        ref = ImageRef.parse(_text(data))
    except ReferenceError:
        return
    # canonical spells out the implied ":latest"; nothing else changes
    assert ImageRef.parse(ref.canonical) == ref.with_tag(ref.effective_tag), ref.canonical
    assert ImageRef.parse(ref.familiar) == ref, ref.familiar


def t_textfile(data: bytes) -> None:
    from preflight.textfile import InputError, decode

    try:
        text = decode(data)
    except InputError as exc:
        assert exc.message and exc.line >= 1 and exc.column >= 1, (exc.message, exc.line, exc.column)
        return
    assert text.encode("utf-8") in (data, data[3:]), "decode lost bytes"


def t_interpolate(data: bytes) -> None:
    from preflight.interpolate import Dialect, ExpansionError, expand

    head, _, text_bytes = data.partition(b"\n")
    dialect = (Dialect.COMPOSE, Dialect.buildkit("\\"), Dialect.buildkit("`"))[(head[:1] or b"\0")[0] % 3]  # type: ignore[attr-defined]
    values = _text(head[1:]).split(";")  # A, B, C take the first values of the header line; D is unset
    env = dict(
        zip("ABC", values + ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", "x/y.z"][len(values) - 1 :], strict=False)
    )
    try:
        exp = expand(_text(text_bytes), env.get, dialect)
    except ExpansionError:
        return
    assert exp.text is not None or exp.unresolved or exp.errors, exp
    assert set(exp.unresolved) <= set(exp.used), exp
    assert not set(exp.unresolved) & set(env), exp


def t_dockerfile(data: bytes) -> None:
    from preflight import dockerfile

    text = _text(data)
    doc = dockerfile.parse_dockerfile(text, "Dockerfile")
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.split("\n")
    for p in doc.problems:
        assert "internal error" not in p.message, p.message
        _within({"Dockerfile": lines}, p.location, p.rule)
    for u in doc.uses:
        _within({"Dockerfile": lines}, u.location, "use")
        _written_at(lines, u)
    # the reader keeps only the instructions it looks at: it must see the same as with all of them
    keep = dockerfile.reader._relevant
    try:
        dockerfile.reader._relevant = lambda: lambda _ins: True  # type: ignore[assignment]
        assert dockerfile.parse_dockerfile(text, "Dockerfile") == doc, "filtered scan changed the result"
    finally:
        dockerfile.reader._relevant = keep  # type: ignore[assignment]


def t_dotenv(data: bytes) -> None:
    from preflight.dotenv import parse_dotenv

    values, error = parse_dotenv(_text(data), {"HOME": "/root"}.get)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
    assert error is None or (error[0] >= 1 and error[1]), error


_FILES = {
    "compose": ("compose.yaml", "other/compose.yaml", ".env", "Dockerfile"),
    "pipeline": ("Dockerfile", "compose.yaml", ".env", "sub/Dockerfile", "sub/compose.override.yaml"),
}


def _write_tree(base: Path, names: tuple[str, ...], data: bytes) -> None:
    shutil.rmtree(base, ignore_errors=True)
    for name, part in zip(names, data.split(SPLIT), strict=False):
        p = base / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(part)


def _tree_lines(base: Path, paths: set[str]) -> dict[str, list[str]]:
    from preflight import yamlpos

    out: dict[str, list[str]] = {}
    for rel in paths:
        try:
            text = (base / rel).read_bytes().decode("utf-8", "replace")
        except OSError:
            out[rel] = ["?"]  # unreadable: its problem is on line 1
            continue
        text = text[1:] if text.startswith("\ufeff") else text
        out[rel] = yamlpos.split_lines(text) if rel.endswith((".yaml", ".yml", ".env")) else text.split("\n")
    return out


def t_compose(data: bytes, base: Path = Path(tempfile.gettempdir()) / f"pf-fuzz-compose-{os.getpid()}") -> None:
    from preflight.compose import load_compose
    from preflight.discover import display_path

    _write_tree(base, _FILES["compose"], data)
    docs = load_compose(base / "compose.yaml", lambda p: display_path(p, base), {"HOME": "/root"})
    assert docs, "no document"
    lines = _tree_lines(base, {d.path for d in docs} | {p.location.path for d in docs for p in d.problems})
    for d in docs:
        for p in d.problems:
            _within(lines, p.location, p.rule)
        for u in d.uses:
            _within(lines, u.location, "use")
            _written_at(lines[u.location.path], u)


def t_pipeline(data: bytes, base: Path = Path(tempfile.gettempdir()) / f"pf-fuzz-pipeline-{os.getpid()}") -> None:
    from preflight.config import Config
    from preflight.pipeline import check_paths

    _write_tree(base, _FILES["pipeline"], data)
    report = check_paths(["."], Config(), cwd=base, environ={})
    for f in report.findings:
        assert f.location.line >= 1 and f.location.column >= 1, f


SLOW_SECONDS = 2.0  # one input taking longer is reported: the readers are meant to be linear


def _timed(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        start = time.perf_counter()
        fn(data)
        took = time.perf_counter() - start
        assert took < SLOW_SECONDS, f"slow input: {took:.1f} s for {len(data)} bytes"

    return run


TARGETS: dict[str, Callable[[bytes], None]] = {
    name: _timed(fn)
    for name, fn in (
        ("imageref", t_imageref),
        ("textfile", t_textfile),
        ("interpolate", t_interpolate),
        ("dockerfile", t_dockerfile),
        ("dotenv", t_dotenv),
        ("compose", t_compose),
        ("pipeline", t_pipeline),
    )
}
MAX_LEN = {"imageref": 512, "textfile": 4096, "interpolate": 2048, "dotenv": 4096}  # others: 16 KiB

DICTIONARY = [
    "FROM ",
    " AS ",
    "ARG ",
    "COPY --from=",
    "RUN --mount=type=bind,from=",
    "--platform=",
    "<<EOF",
    "<<-EOF",
    "EOF",
    "# syntax=",
    "# escape=`",
    "\\\n",
    "`\n",
    "ONBUILD ",
    "scratch",
    "${",
    "}",
    ":-",
    "-",
    ":+",
    ":?",
    "#",
    "##",
    "%",
    "//",
    "$$",
    "${A#",
    "${A%%",
    "${B//",
    "${C/",
    "[",
    "]",
    "[!",
    "*a",
    "?",
    "'",
    '"',
    "services:",
    "image: ",
    "build:",
    "context:",
    "dockerfile:",
    "args:",
    "extends:",
    "service:",
    "file:",
    "include:",
    "path:",
    "env_file:",
    "platform:",
    "&a ",
    "*a",
    "<<: *a",
    "!reset",
    "---\n",
    "- ",
    "{",
    "[",
    "python:3.12",
    "@sha256:",
    "localhost:5000/",
    "docker.io/library/",
    "export ",
    "\r\n",
    "\xef\xbb\xbf",
    SPLIT.decode(),
]


# ----------------------------------------------------------------- atheris child


def _seeds(target: str, into: Path) -> None:
    """Seed inputs from the corpus (Dockerfiles, compose files, .env files) and a few literals."""
    into.mkdir(parents=True, exist_ok=True)
    literals = [b"python:3.12-slim", b"ghcr.io/o/r:1@sha256:" + b"a" * 64, b"${A:-${B:-x}}:1", b"FROM a\n"]
    for i, lit in enumerate(literals):
        (into / f"lit{i}").write_bytes(lit)
    index = CORPUS / "INDEX.tsv"
    if not index.is_file() or target in ("imageref", "interpolate"):
        return
    wanted = {
        "dockerfile": ("dockerfile",),
        "compose": ("compose",),
        "pipeline": ("dockerfile", "compose"),
        "dotenv": ("env",),
        "textfile": ("dockerfile", "compose", "env"),
    }[target]
    for n, row in enumerate(index.read_text(encoding="utf-8").splitlines()):
        kind, _, rel = row.partition("\t")
        if kind in wanted:
            try:
                (into / f"c{n}").write_bytes((CORPUS / rel).read_bytes()[:16384])
            except OSError:
                pass


def child(target: str, seconds: int, workdir: Path) -> None:
    import atheris

    with atheris.instrument_imports():
        import preflight.compose
        import preflight.dockerfile
        import preflight.imageref
        import preflight.interpolate
        import preflight.pipeline
        import preflight.textfile
        import preflight.yamlpos  # noqa: F401
    corpus = workdir / target / "corpus"
    _seeds(target, corpus)
    dict_file = workdir / "tokens.dict"
    dict_file.write_text("".join(f'"{_escape(t)}"\n' for t in DICTIONARY), encoding="utf-8")
    args = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN.get(target, 16384)}",
        f"-artifact_prefix={workdir / target}/",
        f"-dict={dict_file}",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(args, TARGETS[target])
    atheris.Fuzz()


def _escape(token: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{b:02x}" for c in token for b in c.encode())


# ----------------------------------------------------------------- campaign


def run_atheris(target: str, seconds: int, workdir: Path) -> tuple[int, list[str]]:
    """Run one target under libFuzzer, restarting after a crash. Returns (inputs, findings)."""
    total, found, deadline = 0, [], time.monotonic() + seconds
    while (left := int(deadline - time.monotonic())) > 2:
        log = workdir / target / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            subprocess.run(
                [sys.executable, __file__, "--child", target, "--seconds", str(left), "--workdir", str(workdir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                check=False,
            )
        text = log.read_text(errors="replace")
        runs = re.findall(r"stat::number_of_executed_units: (\d+)", text) or re.findall(r"#(\d+)\s", text)
        total += int(runs[-1]) if runs else 0
        if "Uncaught Python exception" in text or "ERROR: libFuzzer" in text:
            tail = text.split("Uncaught Python exception", 1)[-1]
            lines = [ln for ln in tail.splitlines() if ln.strip()]
            crash = re.findall(r"Test unit written to (\S+)", text)
            what = next((ln for ln in lines if re.match(r"\w*(Error|Exception)\b", ln)), lines[-1] if lines else "?")
            found.append(f"{what.strip()} ({crash[-1] if crash else 'no artifact'})")
            if len(found) >= 5:
                break
        else:
            break
    return total, found


def run_hypothesis(target: str, seconds: int) -> tuple[int, list[str]]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    count = 0
    found: list[str] = []
    fn = TARGETS[target]

    def counted(data: bytes) -> None:
        nonlocal count
        count += 1
        fn(data)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(found) < 5:
        test = settings(
            max_examples=500, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck)
        )(given(st.binary(max_size=MAX_LEN.get(target, 4096)))(counted))
        try:
            test()
        except Exception as exc:  # a broken property: hypothesis shrank it
            found.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200])
    return count, found


def campaign(targets: list[str], minutes: float, engine: str, workdir: Path) -> int:
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    share = max(10, int(minutes * 60 / len(targets)))
    rows = []
    for target in targets:
        start = time.monotonic()
        if engine == "atheris":
            count, found = run_atheris(target, share, workdir)
        else:
            count, found = run_hypothesis(target, share)
        rows.append((target, engine, count, time.monotonic() - start, found))
        print(f"{target}: {count} inputs, {len(found)} finding(s)", file=sys.stderr, flush=True)
    print(f"\n{'target':<12} {'engine':<10} {'inputs':>10} {'seconds':>8}  findings")
    for target, eng, count, secs, found in rows:
        print(f"{target:<12} {eng:<10} {count:>10} {secs:>8.0f}  {'; '.join(found) or 'none'}")
    print(f"{'total':<12} {'':<10} {sum(r[2] for r in rows):>10} {sum(r[3] for r in rows):>8.0f}")
    return 1 if any(r[4] for r in rows) else 0


# ----------------------------------------------------------------- hostile sizes


def _laughs(levels: int = 9, width: int = 9) -> str:
    out = 'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for i in range(1, levels):
        name = f"l{i}"
        out += f"x-{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]\n"
        prev = name
    return out + f"services:\n  web:\n    image: python:latest\n    labels: *{prev}\n"


def _big_inputs() -> Iterator[tuple[str, dict[str, str]]]:
    """(name, files) of each hostile-size case, made one at a time."""
    mb50 = 50_000_000
    run = "RUN echo " + "x" * 40 + "\n"
    yield (
        "50 MB Dockerfile, RUN lines",
        {"Dockerfile": "FROM python:3.12\n" + run * (mb50 // len(run)) + "FROM alpine\n"},
    )
    yield "50 MB Dockerfile, one line", {"Dockerfile": "FROM python:3.12\nRUN echo " + "x" * mb50 + "\nFROM alpine\n"}
    yield (
        "50 MB Dockerfile, continuation",
        {"Dockerfile": "FROM python:3.12\nRUN echo \\\n" + "x \\\n" * (mb50 // 4) + "y\nFROM alpine\n"},
    )
    yield (
        "50 MB Dockerfile, heredoc",
        {"Dockerfile": "FROM python:3.12\nRUN <<EOF\n" + "echo hi\n" * (mb50 // 8) + "EOF\nFROM alpine\n"},
    )
    yield (
        "50 MB Dockerfile, comments",
        {"Dockerfile": "FROM python:3.12\n" + "# a comment line\n" * (mb50 // 17) + "FROM alpine\n"},
    )
    yield (
        "50 MB Dockerfile, ARG lines",
        {"Dockerfile": "".join(f"ARG A{i}=v\n" for i in range(mb50 // 13)) + "FROM alpine\n"},
    )
    yield "10,000-line continuation", {"Dockerfile": "FROM \\\n" + "\\\n" * 10_000 + "alpine\n"}
    nested = "x"
    for i in range(1000):
        nested = f"${{A{i}:-{nested}}}"
    yield "1,000 nested defaults", {"Dockerfile": f"FROM {nested}:latest\n"}
    yield (
        "glob pattern, exponential for a regex",
        {"Dockerfile": "ARG V=" + "a" * 80 + "\nFROM ${V%%" + "*a" * 30 + "b}:latest\n"},
    )
    yield "billion laughs (9 levels x 9)", {"compose.yaml": _laughs()}
    yield "9,025 alias expansions (under the limit)", {"compose.yaml": _laughs(levels=4, width=16)}
    wide = "x-a: &a [" + ",".join(["0"] * 50_000) + "]\nx-b: [" + ", ".join(["*a"] * 19) + "]\n"
    yield (
        "950,000 nodes once expanded (under)",
        {"compose.yaml": wide + "services:\n  web:\n    image: python:latest\n"},
    )
    yield "10,000 nested [", {"compose.yaml": "services: " + "[" * 10_000 + "]" * 10_000 + "\n"}
    yield (
        "100,000 services",
        {"compose.yaml": "services:\n" + "".join(f"  s{i}:\n    image: python:latest\n" for i in range(100_000))},
    )


_WRAPPER = """import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
with open(os.environ["PF_MEASURE"], "w") as out:
    json.dump([time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)], out)
"""


def measure(argv: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run argv; (wall seconds, peak RSS MiB, exit code, output). A small wrapper process starts
    it: a child forked from this (large) process would count this one's memory as its own."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PF_MEASURE": result.name}
        subprocess.run(
            [sys.executable, "-c", _WRAPPER, *argv], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        )
        wall, rss, code = json.load(result)
        out.seek(0)
        return wall, rss, code, out.read().decode(errors="replace")


def big(workdir: Path) -> None:
    print(f"{'input':<40} {'MB':>6} {'seconds':>8} {'peak RSS MB':>12} {'exit':>5}  finding")
    for name, files in _big_inputs():
        case = workdir / "big"
        shutil.rmtree(case, ignore_errors=True)
        (case / "hostile").mkdir(parents=True)
        (case / "Dockerfile").write_text("FROM python:latest\n", encoding="utf-8")
        size = 0
        for rel, text in files.items():
            (case / "hostile" / rel).write_text(text, encoding="utf-8")
            size += len(text.encode())
        del files, text  # free before the child starts
        argv = [sys.executable, "-m", "preflight", "check", "--offline", "--no-color", "."]
        wall, rss, code, out = measure(argv, case)
        hostile = next((ln for ln in out.splitlines() if ln.startswith("hostile/")), "(no finding)")
        print(f"{name:<40} {size / 1e6:>6.1f} {wall:>8.2f} {rss:>12.0f} {code:>5}  {hostile[:110]}", flush=True)
        shutil.rmtree(case, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=12.0, help="total time, shared equally by the targets")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "preflight-fuzz")
    ap.add_argument("--big", action="store_true", help="measure the hostile-size inputs instead of fuzzing")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=int, default=60, help=argparse.SUPPRESS)
    ns = ap.parse_args()
    ns.workdir.mkdir(parents=True, exist_ok=True)
    if ns.child:
        child(ns.child, ns.seconds, ns.workdir)
        return 0
    if ns.big:
        big(ns.workdir)
        return 0
    targets = [t for t in ns.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))} (known: {', '.join(TARGETS)})")
    return campaign(targets, ns.minutes, ns.engine, ns.workdir)


if __name__ == "__main__":
    sys.exit(main())
