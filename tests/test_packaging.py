"""What users install: ``python -m build`` makes the sdist, then the wheel from the sdist; the wheel,
installed in a fresh virtual environment, carries every rule page (``preflight rule``, SARIF help)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write

from preflight.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (ROOT / "rules").glob("PF*.md"))

pytestmark = pytest.mark.slow


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(sdist, wheel, venv bin): built as ``python -m build`` does, the wheel installed in a fresh venv."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"  # a copy of the tracked files, so that nothing built lands in the checkout
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    run(sys.executable, "-m", "build", "--outdir", tmp / "dist", source)
    [sdist] = (tmp / "dist").glob("*.tar.gz")
    [wheel] = (tmp / "dist").glob("*.whl")
    run(sys.executable, "-m", "venv", tmp / "venv")
    bin_dir = tmp / "venv" / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-cache-dir", wheel)
    return sdist, wheel, bin_dir


def test_sdist_and_wheel_carry_every_rule_page(installed: tuple[Path, Path, Path]) -> None:
    sdist, wheel, _ = installed
    assert len(PAGES) >= 16
    with tarfile.open(sdist) as tar:
        in_sdist = sorted(Path(n).name for n in tar.getnames() if Path(n).parts[1:-1] == ("rules",))
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = sorted(Path(n).name for n in whl.namelist() if n.startswith("preflight/rule_pages/"))
    assert in_sdist == PAGES and in_wheel == PAGES


def test_installed_wheel_prints_the_full_rule_page(installed: tuple[Path, Path, Path]) -> None:
    *_, bin_dir = installed
    from_checkout = CliRunner().invoke(cli, ["rule", "PF201"])
    assert from_checkout.exit_code == 0 and "## " in from_checkout.output  # the page, not only its summary
    assert run(bin_dir / "preflight", "rule", "PF201") == from_checkout.output


def test_installed_wheel_gives_sarif_its_help_text(installed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    *_, bin_dir = installed
    write(tmp_path, {"Dockerfile": "FROM python:latest\n"})
    sarif = json.loads(run(bin_dir / "preflight", "check", "--offline", "--format", "sarif", ".", cwd=tmp_path))
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    page = (ROOT / "rules" / "PF102.md").read_text(encoding="utf-8")
    why = page.split("## Why", 1)[1].strip().split("\n\n", 1)[0]
    assert set(rules) >= {p.removesuffix(".md") for p in PAGES}
    assert why in rules["PF102"]["help"]["text"] and why in rules["PF102"]["help"]["markdown"]
