"""Reading files as text: encodings, NUL bytes, directories, permissions."""

from __future__ import annotations

import codecs

import pytest

from preflight.textfile import InputError, decode, read_text


def test_utf8_with_and_without_bom():
    assert decode(b"FROM a\n") == "FROM a\n"
    assert decode(codecs.BOM_UTF8 + b"FROM a\n") == "FROM a\n"


def test_invalid_utf8_points_at_the_byte():
    with pytest.raises(InputError) as err:
        decode(b"FROM a\nFROM b\xff\n")
    assert (err.value.line, err.value.column) == (2, 7)
    assert "invalid UTF-8" in err.value.message


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE])
def test_utf16_and_utf32_are_reported_not_guessed(bom):
    with pytest.raises(InputError, match="UTF-8 only"):
        decode(bom + "FROM a\n".encode("utf-16-le"))


def test_nul_byte():
    with pytest.raises(InputError, match="NUL") as err:
        decode(b"FROM a\nFR\x00OM\n")
    assert (err.value.line, err.value.column) == (2, 3)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="directory"):
        read_text(tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_text(tmp_path / "nope")


def test_reads_a_real_file(tmp_path):
    f = tmp_path / "Dockerfile"
    f.write_text("FROM python:3.12\n", encoding="utf-8")
    assert read_text(f) == "FROM python:3.12\n"
