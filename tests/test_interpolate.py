"""Variable expansion: compose and BuildKit dialects."""

from __future__ import annotations

import pytest

from preflight.interpolate import MAX_DEPTH, MAX_EXPANSION, Dialect, ExpansionError, ExpansionTooLong, expand

ENV = {"A": "a", "EMPTY": "", "TAG": "3.12"}
C = Dialect.COMPOSE
B = Dialect.buildkit()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python:$TAG", "python:3.12"),
        ("python:${TAG}-slim", "python:3.12-slim"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${A:?boom}", "a"),
        ("$$A", "$A"),
        ("${UNSET:-${A:-z}}", "a"),
        ("py:${X:-3.${A}}", "py:3.a"),
        ("cost $", "cost $"),
        ("$1abc", "$1abc"),
    ],
)
def test_compose_forms(text, expected):
    result = expand(text, ENV.get, C)
    assert result.text == expected
    assert result.unresolved == ()


@pytest.mark.parametrize("text", ["python:${TAG2}", "$TAG2", "x${TAG2}y${A}"])
def test_unset_without_default_is_unknown_never_guessed(text):
    result = expand(text, ENV.get, C)
    assert result.text is None
    assert result.unresolved == ("TAG2",)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${NOPE:?set NOPE first}", "NOPE: set NOPE first"),
        ("${EMPTY:?}", "EMPTY: empty"),
        ("${NOPE?}", "NOPE: not set"),
    ],
)
def test_required_variables_report_their_message(text, error):
    result = expand(text, ENV.get, C)
    assert result.text is None
    assert result.errors == (error,)


def test_question_without_colon_accepts_empty():
    assert expand("${EMPTY?x}", ENV.get, C).text == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ('"$A"x', "ax"),
        ('"\\$A"', "$A"),
        ("a\\ b", "a b"),
    ],
)
def test_buildkit_quotes_and_escapes(text, expected):
    assert expand(text, ENV.get, B).text == expected


def test_backtick_escape_dialect():
    assert expand("`$A", ENV.get, Dialect.buildkit("`")).text == "$A"
    assert expand("C:\\$A", ENV.get, Dialect.buildkit("`")).text == "C:\\a"


def test_dollar_dollar_is_not_special_in_buildkit():
    assert expand("$$", ENV.get, B).text == "$$"


@pytest.mark.parametrize("text", ["${A", "${A:-x", "${A*}", "${}", "'unterminated", '"open'])
def test_malformed_syntax_raises_expansion_error(text):
    dialect = B if text[0] in "'\"" else C
    with pytest.raises(ExpansionError):
        expand(text, ENV.get, dialect)


def test_deep_nesting_is_bounded():
    deep = "${V0:-" * (MAX_DEPTH + 5) + "x" + "}" * (MAX_DEPTH + 5)
    with pytest.raises(ExpansionError, match="nested deeper"):
        expand(deep, {}.get, C)
    ok = "${V0:-" * 50 + "x" + "}" * 50
    assert expand(ok, {}.get, C).text == "x"


def test_used_lists_every_variable_once():
    assert expand("$A${A}${B:-$C}", {"A": "1", "B": "2"}.get, C).used == ("A", "B")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${V%-*}", "1.25.3"),
        ("${V%%.*}", "1"),
        ("${V#*.}", "25.3-alpine"),
        ("${V##*.}", "3-alpine"),
        ("${V%-alpine}", "1.25.3"),
        ("${V#nomatch}", "1.25.3-alpine"),
        ("${P/./-}", "a-b.c"),
        ("${P//./-}", "a-b-c"),
        ("${V/[0-9]/X}", "X.25.3-alpine"),
        ("${P//[!.]/x}", "x.x.x"),
    ],
)
def test_buildkit_pattern_substitutions(text, expected):
    assert expand(text, {"V": "1.25.3-alpine", "P": "a.b.c"}.get, B).text == expected


def test_pattern_substitution_of_unset_variable_is_unknown():
    assert expand("${NOPE#x}", {}.get, B).unresolved == ("NOPE",)


def test_compose_has_no_pattern_substitution():
    with pytest.raises(ExpansionError):
        expand("${V#x}", {"V": "1"}.get, C)


@pytest.mark.parametrize("dialect", [B, C])
def test_expansion_stops_at_its_bound(dialect: Dialect) -> None:
    big = {"V": "x" * 600}
    assert expand("${V}${V}", big.get, dialect, limit=1200).text == "x" * 1200  # exactly the bound
    with pytest.raises(ExpansionTooLong, match="longer than 1024 characters"):
        expand("${V}${V}", big.get, dialect, limit=1024)
    with pytest.raises(ExpansionTooLong):
        expand("${U:-${V}${V}}", big.get, dialect, limit=1024)  # inside a default, too
    huge = {"V": "v" * (MAX_EXPANSION + 1)}  # a value from the environment, longer than the default bound
    with pytest.raises(ExpansionTooLong):
        expand("$V", huge.get, dialect)


def test_replacement_is_bounded_before_it_is_built() -> None:
    """``${V//a/${V}}`` squares the length: the bound is checked while replacing."""
    values = {"V": "a" * 1000}
    with pytest.raises(ExpansionTooLong):
        expand("${V//a/${V}}", values.get, B)
    assert expand("${V//a/bb}", values.get, B, limit=2000).text == "b" * 2000
