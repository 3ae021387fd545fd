"""``registry/body.py``: bodies decoded in bounded steps, under the cap the request names."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import httpx
import pytest

from preflight.registry.body import EXT_BODY_CAP, BodyRefused, bounded


def _no_deadline() -> None:
    return None


def read(status: int, body: bytes, encoding: str | None, cap: int, chunk: int = 65536) -> bytes:
    """``body`` sent in ``chunk``-sized pieces with ``Content-Encoding: encoding``, read through ``bounded``."""

    class Pieces(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for i in range(0, len(body), chunk):
                yield body[i : i + chunk]

    request = httpx.Request("GET", "http://127.0.0.1:5000/v2/x", extensions={EXT_BODY_CAP: cap})
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = httpx.Response(status, headers=headers, stream=Pieces(), request=request)
    wrapped = bounded(response, request, _no_deadline)
    assert "content-encoding" not in wrapped.headers

    async def go() -> bytes:
        return await wrapped.aread()

    return asyncio.run(go())


def test_gzip_and_both_deflate_flavours_decode() -> None:
    data = b'{"tags": ["1.0"]}' * 100
    assert read(200, gzip.compress(data), "gzip", 1 << 20) == data
    assert read(200, zlib.compress(data), "deflate", 1 << 20) == data
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert read(200, raw.compress(data) + raw.flush(), "deflate", 1 << 20) == data
    assert read(200, data, None, 1 << 20) == data


def test_a_bomb_stops_at_the_cap_whatever_the_chunk_size() -> None:
    bomb = gzip.compress(bytes(64 * 1024 * 1024), 9)  # ~64 KiB on the wire: one chunk is the whole bomb
    with pytest.raises(BodyRefused, match="127.0.0.1:5000 sent an answer larger than 1 MiB"):
        read(200, bomb, "gzip", 1 << 20, chunk=len(bomb))


def test_exactly_the_cap_is_accepted() -> None:
    data = b"x" * 1024
    assert read(200, gzip.compress(data), "gzip", 1024) == data
    assert read(200, data, None, 1024) == data
    with pytest.raises(BodyRefused):
        read(200, data + b"y", None, 1024)


def test_error_bodies_are_cut_not_refused() -> None:
    body = read(401, gzip.compress(bytes(10 * 1024 * 1024)), "gzip", 1 << 30)
    assert len(body) == 64 * 1024  # an error body's cap, whatever the request named


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_encodings_without_a_bounded_decoder_are_refused(encoding: str) -> None:
    with pytest.raises(BodyRefused, match="Content-Encoding"):
        read(200, b"anything", encoding, 1 << 20)
    assert read(500, b"anything", encoding, 1 << 20) == b""  # an error body that cannot be read is empty


def test_broken_compressed_data_is_a_decoding_error() -> None:
    with pytest.raises(httpx.DecodingError):
        read(200, b"not gzip at all", "gzip", 1 << 20)
