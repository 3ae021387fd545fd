"""``safetext``: visible escapes, JSON that keeps the data, Markdown code spans for table cells."""

from __future__ import annotations

import json

import pytest

from preflight.safetext import markdown_code, safe_json, visible

NASTY = ["\x1b[31m", "\x9b", "\x7f", "\u202e", "\u2066", "\u2069", "\u200b", "\ufeff", "\u2028", "\udcff", "\U000e0041"]


@pytest.mark.parametrize("char", NASTY)
def test_every_invisible_or_control_character_is_shown_as_an_escape(char: str) -> None:
    shown = visible(f"a{char}b")
    assert shown.isprintable() and shown.startswith("a\\") and shown.endswith("b")


def test_printable_text_is_unchanged() -> None:
    for text in ("python:3.12-slim", "café ☕ 日本", "tab-free <html> [x](y) `z`"):
        assert visible(text) == text


@pytest.mark.parametrize("char", NASTY)
def test_json_keeps_the_data_and_shows_no_raw_character(char: str) -> None:
    data = {"path": f"x{char}y", "n": [1, "é"]}
    out = safe_json(json.dumps(data, indent=2, ensure_ascii=False))
    assert all(c.isprintable() or c == "\n" for c in out)
    assert json.loads(out) == data


@pytest.mark.parametrize("text", ["plain", "a `tick` b", "``double``", "`", "", "a | b", "<img src=x>"])
def test_markdown_code_is_one_code_span(text: str) -> None:
    out = markdown_code(text)
    fence = out[: len(out) - len(out.lstrip("`"))]
    assert out.endswith(fence) and fence
    inner = out[len(fence) : -len(fence)]
    assert fence not in inner
    assert "|" not in inner.replace("\\|", "")
