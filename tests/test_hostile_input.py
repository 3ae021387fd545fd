"""Hostile input: every bad file gives a clear finding and leaves the rest of the run intact.

Each case writes its files under ``hostile/`` beside a normal ``Dockerfile`` (``FROM python:latest``)
and runs the real CLI (``python -m preflight check --offline --format json``): the exit status is
1 (findings), never 2; stderr has no traceback; the normal file's PF102 is still reported; and the
hostile file's finding is exactly what the user is meant to see.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from measure import run_cli

from preflight import textfile
from preflight.interpolate import MAX_DEPTH

pytestmark = pytest.mark.slow  # real-CLI subprocess runs on hostile files: out of the fast loop, always in CI

ROOT = Path(__file__).resolve().parents[1]
NORMAL = "FROM python:latest\n"
NORMAL_FINDING = ("PF102", "Dockerfile", 1, 6)
HUB_LATEST = 'uses the "latest" tag'
MB = 1024 * 1024


@dataclass
class Run:
    hostile: list[tuple[str, str, int, int, str]]  # (rule, path, line, column, message) outside ./Dockerfile
    seconds: float
    peak_mb: float
    files: int = 0  # the summary's file count


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "project"
    (root / "hostile").mkdir(parents=True)
    (root / "Dockerfile").write_text(NORMAL, encoding="utf-8")
    for rel, data in files.items():
        path = root / "hostile" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    return root


def check(root: Path, *args: str, preexec=None) -> Run:
    """Run the CLI in ``root`` (this checkout's code); assert exit 1 within 2 minutes, no
    traceback, and the normal file's finding."""
    env = {k: v for k, v in os.environ.items() if k not in ("TAG", "V", "A", "GITHUB_ACTIONS")}
    env["PYTHONPATH"] = str(ROOT)
    done = run_cli(["check", "--offline", "--format", "json", *args], root, env, preexec=preexec, timeout=120)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode == 1, (done.returncode, done.stderr, done.stdout[-2000:])
    findings = json.loads(done.stdout)["findings"]
    got = [(f["rule"], f["path"], f["line"], f["column"], f["message"]) for f in findings]
    assert [g[:4] for g in got if g[1] == "Dockerfile"] == [NORMAL_FINDING], got
    return Run(
        hostile=[g for g in got if g[1] != "Dockerfile"],
        seconds=done.seconds,
        peak_mb=done.peak_kb / 1024,
        files=json.loads(done.stdout)["summary"]["files"],
    )


def _laughs(levels: int, width: int) -> str:
    text = 'x-l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels):
        text += f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]\n"
    return text + f"services:\n  web:\n    image: redis:7\n    labels: *l{levels - 1}\n"


def _nested(levels: int, inner: str) -> str:
    text = inner
    for i in range(levels):
        text = f"${{A{i}:-{text}}}"
    return text


CANNOT_READ = "cannot read hostile/{}: "
ALIASES = "too many alias expansions (more than 10000 aliases or 1000000 nodes once expanded)"

CASES: dict[str, tuple[dict[str, str | bytes], list[tuple[str, str, int, int, str]]]] = {
    "invalid UTF-8": (
        {"Dockerfile": b"FROM alpine:3.19\nFROM python:3.12\xff AS x\n"},
        [("PF001", "hostile/Dockerfile", 2, 17, CANNOT_READ.format("Dockerfile") + "invalid UTF-8 (byte 0xff)")],
    ),
    "UTF-16 Dockerfile with BOM": (
        {"Dockerfile": codecs.BOM_UTF16_LE + "FROM python:3.12\n".encode("utf-16-le")},
        [
            (
                "PF001",
                "hostile/Dockerfile",
                1,
                1,
                CANNOT_READ.format("Dockerfile")
                + "file is encoded as UTF-16-LE; Docker and Compose read UTF-8 only (re-save the file as UTF-8)",
            )
        ],
    ),
    "UTF-16 compose file with BOM": (
        {"compose.yaml": codecs.BOM_UTF16_BE + "services:\n  a:\n    image: redis\n".encode("utf-16-be")},
        [
            (
                "PF001",
                "hostile/compose.yaml",
                1,
                1,
                CANNOT_READ.format("compose.yaml")
                + "file is encoded as UTF-16-BE; Docker and Compose read UTF-8 only (re-save the file as UTF-8)",
            )
        ],
    ),
    "NUL byte in a Dockerfile": (
        {"Dockerfile": b"FROM alpine:3.19\nRUN echo \x00\n"},
        [
            (
                "PF001",
                "hostile/Dockerfile",
                2,
                10,
                CANNOT_READ.format("Dockerfile") + "file contains a NUL byte (is it binary?)",
            )
        ],
    ),
    "NUL byte in a compose file": (
        {"compose.yaml": b"services:\n  a:\n    image: redis:7\x00\n"},
        [
            (
                "PF001",
                "hostile/compose.yaml",
                3,
                19,
                CANNOT_READ.format("compose.yaml") + "file contains a NUL byte (is it binary?)",
            )
        ],
    ),
    "10,000-line continuation": (
        {"Dockerfile": "FROM alpine:3.19\nRUN echo \\\n" + "  a \\\n" * 10_000 + "  done\nFROM python:latest\n"},
        [("PF102", "hostile/Dockerfile", 10_004, 6, '"python:latest" ' + HUB_LATEST)],
    ),
    "image split over a 10,000-line continuation": (
        {"Dockerfile": "FROM \\\n" + "\\\n" * 10_000 + "redis AS x\n"},
        [("PF101", "hostile/Dockerfile", 10_002, 1, '"redis" has no tag')],
    ),
    "1 MB of blanks in a parser directive": (
        {"Dockerfile": "# syntax=docker/dockerfile:1" + " " * 1_000_000 + "x\nFROM redis\n"},
        [("PF101", "hostile/Dockerfile", 2, 6, '"redis" has no tag')],
    ),
    "billion laughs": (
        {"compose.yaml": _laughs(levels=9, width=9)},
        [("PF001", "hostile/compose.yaml", 6, 17, ALIASES)],
    ),
    "10,000 nested [": (
        {"compose.yaml": "services: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        [("PF001", "hostile/compose.yaml", 1, 210, "YAML nested deeper than 200 levels")],
    ),
    "compose root is a list": (
        {"compose.yaml": "- services:\n    a:\n      image: redis:7\n"},
        [("PF001", "hostile/compose.yaml", 1, 1, "compose file root must be a mapping")],
    ),
    "duplicate keys (the later value wins)": (
        {"compose.yaml": "services:\n  web:\n    image: redis:7\n    image: redis:latest\n"},
        [
            ("PF001", "hostile/compose.yaml", 4, 5, 'duplicate key "image" (first defined on line 3)'),
            ("PF102", "hostile/compose.yaml", 4, 12, '"redis:latest" ' + HUB_LATEST),
        ],
    ),
    "extends cycle": (
        {
            "compose.yaml": "services:\n  a:\n    extends: b\n    image: redis:7\n  b:\n    extends: a\n"
            "  c:\n    image: memcached\n"
        },
        [
            ("PF001", "hostile/compose.yaml", 6, 14, "extends cycle: a -> b -> a"),
            ("PF101", "hostile/compose.yaml", 8, 12, '"memcached" has no tag'),
        ],
    ),
    "include cycle": (
        {
            "compose.yaml": "include:\n  - other/compose.yaml\nservices:\n  a:\n    image: redis\n",
            "other/compose.yaml": "include:\n  - ../compose.yaml\nservices:\n  b:\n    image: redis:7\n",
        },
        [
            (
                "PF001",
                "hostile/compose.yaml",
                2,
                5,
                "include cycle: hostile/other/compose.yaml -> hostile/compose.yaml -> hostile/other/compose.yaml",
            ),
            ("PF101", "hostile/compose.yaml", 5, 12, '"redis" has no tag'),
            (
                "PF001",
                "hostile/other/compose.yaml",
                2,
                5,
                "include cycle: hostile/compose.yaml -> hostile/other/compose.yaml -> hostile/compose.yaml",
            ),
        ],
    ),
    "a directory named Dockerfile": (
        {"Dockerfile/Dockerfile": "FROM redis\n", "compose.yaml": "services:\n  app:\n    build: .\n"},
        [
            ("PF001", "hostile/Dockerfile", 1, 1, CANNOT_READ.format("Dockerfile") + "is a directory, not a file"),
            ("PF101", "hostile/Dockerfile/Dockerfile", 1, 6, '"redis" has no tag'),
        ],
    ),
    "a path with spaces and non-ASCII characters": (
        {"my dir/ünïcode/Dockerfile": "FROM redis:latest\n"},
        [("PF102", "hostile/my dir/ünïcode/Dockerfile", 1, 6, '"redis:latest" ' + HUB_LATEST)],
    ),
    "self-referencing ARG": (
        {"Dockerfile": "ARG A=$A\nFROM $A\n"},
        [("PF003", "hostile/Dockerfile", 2, 6, 'variable $A in "$A" has no value and no default')],
    ),
    "${V:?message} with V unset (Dockerfile)": (
        {"Dockerfile": "ARG V\nFROM ${V:?set_V_to_the_base_image}\n"},
        [("PF003", "hostile/Dockerfile", 2, 6, '"${V:?set_V_to_the_base_image}" requires $V: set_V_to_the_base_image')],
    ),
    "${TAG:?message} with TAG unset (compose)": (
        {"compose.yaml": "services:\n  a:\n    image: redis:${TAG:?set TAG to the release}\n"},
        [
            (
                "PF003",
                "hostile/compose.yaml",
                3,
                12,
                '"redis:${TAG:?set TAG to the release}" requires $TAG: set TAG to the release',
            )
        ],
    ),
    "1,000 nested defaults resolve (Dockerfile)": (
        {"Dockerfile": f"FROM {_nested(1000, 'redis:latest')}\n"},
        [("PF102", "hostile/Dockerfile", 1, 6, '"${A999:-${A998:-')],
    ),
    "1,000 nested defaults resolve (compose)": (
        {"compose.yaml": f"services:\n  a:\n    image: {_nested(1000, 'redis:latest')}\n"},
        [("PF102", "hostile/compose.yaml", 3, 12, '"${A999:-${A998:-')],
    ),
    "a pattern that backtracking regexes take exponential time on": (
        {"Dockerfile": "ARG V=" + "a" * 80 + "\nFROM ${V%%" + "*a" * 30 + "b}redis:latest\n"},
        [("PF102", "hostile/Dockerfile", 2, 6, '"${V%%*a*a*a')],
    ),
    "an invalid bracket expression in a pattern": (
        {"Dockerfile": "ARG V=abc\nFROM redis:${V#[z-a]}\n"},
        [
            (
                "PF002",
                "hostile/Dockerfile",
                2,
                6,
                "invalid variable syntax in FROM 'redis:${V#[z-a]}': invalid pattern '[z-a]': bad character range z-a",
            )
        ],
    ),
    "nesting beyond the bound": (
        {"Dockerfile": f"FROM {_nested(MAX_DEPTH + 1, 'redis:latest')}\n"},
        [("PF002", "hostile/Dockerfile", 1, 6, "invalid variable syntax in FROM '${A10000:-${A9999:-")],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hostile_file_gives_a_clear_finding_and_the_run_goes_on(tmp_path, case):
    files, expected = CASES[case]
    run = check(project(tmp_path, files))
    assert len(run.hostile) == len(expected), run.hostile
    for got, (rule, path, line, column, message) in zip(run.hostile, expected, strict=False):
        assert got[:4] == (rule, path, line, column), got
        assert got[4].startswith(message), got[4][:300]


def test_nested_defaults_resolve_to_the_innermost_default(tmp_path):
    for case in ("1,000 nested defaults resolve (Dockerfile)", "1,000 nested defaults resolve (compose)"):
        run = check(project(tmp_path / case[-8:-1], CASES[case][0]))
        assert '}" (resolves to "redis:latest") uses the "latest" tag' in run.hostile[0][4]


def test_nesting_beyond_the_bound_says_so(tmp_path):
    run = check(project(tmp_path, CASES["nesting beyond the bound"][0]))
    assert f"variables nested deeper than {MAX_DEPTH} levels" in run.hostile[0][4]


def test_billion_laughs_is_bounded_in_memory(tmp_path):
    """9 levels of 9 aliases would be 387 million nodes; the loader stops at 10,000 expansions."""
    run = check(project(tmp_path, {"compose.yaml": _laughs(levels=9, width=9)}))
    assert run.hostile == [("PF001", "hostile/compose.yaml", 6, 17, ALIASES)]
    assert run.peak_mb < 200, run.peak_mb
    print(f"billion laughs: peak RSS {run.peak_mb:.0f} MB")


def _doubling(n: int, line: str) -> str:
    """``A0=x``, then ``A1=${A0}${A0}`` ... ``A{n-1}``: 2**(n-1) characters if expanded in full."""
    return "".join(line.format(i=i, v=f"${{A{i - 1}}}${{A{i - 1}}}" if i else "x") + "\n" for i in range(n))


def test_exponential_arg_chain_is_bounded(tmp_path):
    """Issue 8 item 6: 64 doubling ARGs, then FROM alpine:${A63} (old: MemoryError after 2.1 GB, exit 2)."""
    files = {"Dockerfile": _doubling(64, "ARG A{i}={v}") + "FROM alpine:${A63}\nFROM alpine:${A12}\nRUN echo ${A63}\n"}
    run = check(project(tmp_path, files))
    assert [h[:4] for h in run.hostile] == [
        ("PF002", "hostile/Dockerfile", 65, 6),
        ("PF002", "hostile/Dockerfile", 66, 6),
    ], run.hostile
    assert "$A63 is longer than 65536 characters once expanded" in run.hostile[0][4]
    assert "the expansion is longer than 1024 characters" in run.hostile[1][4]  # 4,096: past a reference's bound
    assert all("no valid image reference is that long" in h[4] for h in run.hostile)
    assert run.peak_mb < 100, run.peak_mb


def test_exponential_arg_chain_used_only_in_run_is_no_finding(tmp_path):
    """preflight expands only image references: a long ARG that no reference uses is nobody's business."""
    files = {"Dockerfile": "FROM alpine:3.20\n" + _doubling(64, "ARG A{i}={v}") + "RUN echo ${A63}\n"}
    run = check(project(tmp_path, files))
    assert run.hostile == []
    assert run.peak_mb < 100, run.peak_mb


def test_replacement_blowup_is_bounded(tmp_path):
    """``${V//p/${V}}`` squares the length at each step: 1,000 -> 10**6 -> 10**12."""
    dockerfile = "ARG A=" + "a" * 1000 + "\nARG B=${A//a/${A}}\nARG C=${B//a/${B}}\nFROM alpine:${C}\n"
    run = check(project(tmp_path, {"Dockerfile": dockerfile}))
    assert [h[:4] for h in run.hostile] == [("PF002", "hostile/Dockerfile", 4, 6)], run.hostile
    assert "$C is longer than 65536 characters once expanded" in run.hostile[0][4]
    assert run.peak_mb < 100, run.peak_mb


def test_exponential_dotenv_chain_is_bounded(tmp_path):
    """The same chain in compose's ``.env``: a finding at the first line past the bound, and at the image."""
    files = {
        ".env": _doubling(64, "A{i}={v}"),
        "compose.yaml": "services:\n  a:\n    image: alpine:${A63}\n  b:\n    image: alpine:${A12}\n",
    }
    run = check(project(tmp_path, files))
    assert [h[:4] for h in run.hostile] == [
        ("PF001", "hostile/.env", 18, 1),
        ("PF003", "hostile/compose.yaml", 3, 12),  # .env stopped at its error: A63 has no value
        ("PF002", "hostile/compose.yaml", 5, 12),
    ], run.hostile
    assert "the value of A17 is longer than 65536 characters once expanded" in run.hostile[0][4]
    assert "the expansion is longer than 1024 characters" in run.hostile[2][4]
    assert run.peak_mb < 100, run.peak_mb


def test_symlink_loop_is_followed_once(tmp_path):
    root = project(tmp_path, {"x/Dockerfile": "FROM redis\n"})
    (root / "hostile" / "x" / "loop").symlink_to("..", target_is_directory=True)
    run = check(root)
    assert run.hostile == [("PF101", "hostile/x/Dockerfile", 1, 6, run.hostile[0][4])]
    assert '"redis" has no tag' in run.hostile[0][4]


def test_fifo_is_refused_not_opened(tmp_path):
    """Opening a FIFO waits for a writer forever: found by a walk it is skipped, named it is refused."""
    root = project(
        tmp_path,
        {"compose.yaml": "services:\n  app:\n    build:\n      context: .\n      dockerfile: app.Dockerfile\n"},
    )
    os.mkfifo(root / "hostile" / "app.Dockerfile")
    os.mkfifo(root / "hostile" / "Dockerfile")
    run = check(root, ".", "hostile/Dockerfile")
    message = "is not a regular file (a FIFO, socket or device); not read"
    assert run.hostile == [
        ("PF001", "hostile/Dockerfile", 1, 1, CANNOT_READ.format("Dockerfile") + message),
        ("PF001", "hostile/app.Dockerfile", 1, 1, CANNOT_READ.format("app.Dockerfile") + message),
    ]


@pytest.mark.parametrize("fmt", ["sarif", "gitlab", "json", "github", "text"])
def test_file_name_that_is_not_utf8(tmp_path, fmt):
    root = project(tmp_path, {})
    os.makedirs(os.fsencode(root / "hostile") + b"/bad\xffname")
    (root / "hostile" / os.fsdecode(b"bad\xffname") / "Dockerfile").write_text("FROM redis\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--offline", "--format", fmt],
        cwd=root,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr.decode(errors="replace")


def test_file_over_the_size_limit_is_refused_not_read(tmp_path):
    root = project(tmp_path, {})
    with open(root / "hostile" / "Dockerfile", "wb") as fh:  # sparse: no 65 MiB written
        fh.truncate(textfile.MAX_BYTES + MB)
    run = check(root)
    assert run.hostile == [
        (
            "PF001",
            "hostile/Dockerfile",
            1,
            1,
            "cannot read hostile/Dockerfile: file is 65 MiB; preflight reads files up to 64 MiB",
        )
    ]


@pytest.mark.slow
def test_50_mb_dockerfile_is_read_to_the_end(tmp_path):
    """50 MB of RUN lines: read (under the 64 MiB limit), the FROM on the last line is found."""
    root = project(tmp_path, {})
    run_line = "RUN echo " + "x" * 40 + "\n"
    count = 50_000_000 // len(run_line)
    with open(root / "hostile" / "Dockerfile", "w", encoding="utf-8") as fh:
        fh.write("FROM python:3.12 AS base\n")
        for _ in range(count // 10_000):
            fh.write(run_line * 10_000)
        fh.write("FROM redis\n")
    assert (root / "hostile" / "Dockerfile").stat().st_size > 50_000_000
    run = check(root)
    assert [h[:4] for h in run.hostile] == [("PF101", "hostile/Dockerfile", count + 2, 6)]
    assert run.peak_mb < 1024, run.peak_mb  # loose: about 190 MB when measured
    print(f"50 MB Dockerfile: {run.seconds:.2f} s, peak RSS {run.peak_mb:.0f} MB")


# ----------------------------------------------------------------- permissions


def _without_dac_override() -> None:
    """preexec_fn: drop root's CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set,
    so that the exec'd (root) process obeys file permissions like any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _permission_preexec(probe: Path):
    """How to run a process that cannot read ``probe`` (mode 000), or None if impossible here."""
    preexec = _without_dac_override if os.geteuid() == 0 else None
    try:
        proc = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}).read()"],
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            check=False,
        )
    except subprocess.SubprocessError:  # prctl refused (no CAP_SETPCAP)
        return None
    return preexec if "PermissionError" in proc.stderr else None


def test_unreadable_file_and_directory(tmp_path):
    root = project(
        tmp_path,
        {
            "Dockerfile": "FROM redis\n",
            "locked/Dockerfile": "FROM redis\n",
            "ok/Dockerfile": "FROM redis:7\nFROM memcached\n",
        },
    )
    unreadable, locked = root / "hostile" / "Dockerfile", root / "hostile" / "locked"
    unreadable.chmod(0)
    locked.chmod(0)
    try:
        preexec = _permission_preexec(unreadable)
        if preexec is None and os.geteuid() == 0:
            pytest.skip(
                "running as root without CAP_SETPCAP: file permissions cannot be enforced here"
                " (test_read_text_permission_denied covers the reader)"
            )
        run = check(root, preexec=preexec)
    finally:
        locked.chmod(stat.S_IRWXU)
        unreadable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert [h[:4] for h in run.hostile] == [
        ("PF001", "hostile/Dockerfile", 1, 1),
        ("PF001", "hostile/locked", 1, 1),
        ("PF101", "hostile/ok/Dockerfile", 2, 6),
    ], run.hostile
    assert run.hostile[0][4] == "cannot read hostile/Dockerfile: permission denied"
    assert run.hostile[1][4] == "cannot read directory: Permission denied"


@pytest.mark.parametrize("how", ["named", "found"])
def test_unreadable_file_and_locked_directory_are_findings_however_reached(tmp_path, how):
    """Named on the command line or found in a directory: a PF001 at the file (not a usage error),
    and a locked directory is a finding that is not counted as a file."""
    root = project(tmp_path, {"Dockerfile": "FROM redis\n", "locked/Dockerfile": "FROM redis\n"})
    unreadable, locked = root / "hostile" / "Dockerfile", root / "hostile" / "locked"
    unreadable.chmod(0)
    locked.chmod(0)
    try:
        preexec = _permission_preexec(unreadable)
        if preexec is None and os.geteuid() == 0:
            pytest.skip("running as root without CAP_SETPCAP: file permissions cannot be enforced here")
        paths = ("Dockerfile", "hostile/Dockerfile", "hostile/locked") if how == "named" else (".",)
        run = check(root, *paths, preexec=preexec)
    finally:
        locked.chmod(stat.S_IRWXU)
        unreadable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert [h[:2] for h in run.hostile] == [("PF001", "hostile/Dockerfile"), ("PF001", "hostile/locked")]
    assert run.hostile[0][4] == "cannot read hostile/Dockerfile: permission denied"
    assert run.files == 2  # ./Dockerfile and hostile/Dockerfile; the directory is no file


def test_read_text_permission_denied(tmp_path, monkeypatch):
    """The reader's own handling, independent of who runs the tests (root reads everything)."""
    path = tmp_path / "Dockerfile"
    path.write_text(NORMAL, encoding="utf-8")

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(textfile.InputError, match="^permission denied$"):
        textfile.read_text(path)
