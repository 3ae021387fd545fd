"""Module size (issue 10): a module of ``preflight/`` over 400 lines is split, or says why it stays one module
in its docstring, on a line starting ``Size:`` followed by the reason. (Function complexity is ruff's C901 at 15,
configured in pyproject.toml.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 400


def size_reason(source: str) -> str | None:
    """The text after ``Size:`` on a line of the module docstring, or None when there is no such non-empty line."""
    docstring = ast.get_docstring(ast.parse(source)) or ""
    for line in docstring.splitlines():
        label, colon, reason = line.strip().partition(":")
        if label == "Size" and colon and reason.strip():
            return reason.strip()
    return None


def oversized_without_reason(root: Path) -> list[str]:
    """``path: N lines`` for each ``preflight/**/*.py`` below ``root`` over LIMIT lines with no ``Size:`` reason."""
    found = []
    for path in sorted((root / "preflight").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > LIMIT and size_reason(source) is None:
            found.append(f"{name}: {lines} lines")
    return found


def test_every_long_module_is_split_or_says_why() -> None:
    assert oversized_without_reason(ROOT) == []


def _module(tmp_path: Path, name: str, docstring: str, lines: int) -> None:
    path = tmp_path / "preflight" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f'"""{docstring}"""\n'
    path.write_text(head + "x = 1\n" * (lines - len(head.splitlines())), encoding="utf-8")


@pytest.mark.parametrize(
    ("docstring", "lines", "reported"),
    [
        ("A long module.", LIMIT + 1, True),
        ("A long module.\n\nSize: one state machine; its states read best side by side.\n", LIMIT + 1, False),
        ("A long module.\n\n    Size: indented in the docstring still counts.\n", LIMIT + 1, False),
        ("A long module.\n\nSize:\n", LIMIT + 1, True),  # the label alone is no reason
        ("A long module whose size is mentioned in passing.", LIMIT + 1, True),
        ("A module at the limit.", LIMIT, False),
    ],
)
def test_the_check_sees_a_long_module_without_a_reason(
    tmp_path: Path, docstring: str, lines: int, reported: bool
) -> None:
    _module(tmp_path, "sub/mod.py", docstring, lines)
    assert len((tmp_path / "preflight/sub/mod.py").read_text().splitlines()) == lines
    assert oversized_without_reason(tmp_path) == (["preflight/sub/mod.py: 401 lines"] if reported else [])


def test_a_long_module_without_a_docstring_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "preflight" / "bare.py"
    path.parent.mkdir()
    path.write_text("x = 1\n" * (LIMIT + 1), encoding="utf-8")
    assert oversized_without_reason(tmp_path) == ["preflight/bare.py: 401 lines"]
