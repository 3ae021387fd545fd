"""Bounded response bodies: every body preflight reads is decoded here, in steps, under a cap.

httpx decodes ``Content-Encoding`` after the transport and without an output bound: one 64 KiB
chunk of a gzip bomb becomes 64 MiB at once, and a whole bomb gigabytes, before any caller can
count. So the transport hands httpx bodies that are already decoded (``bounded``): the raw
stream goes through a decompressor that is never asked for more than the bytes left under the
cap (``zlib``'s ``max_length``), the ``Content-Encoding`` header is removed, and httpx reads the
identity. This covers the bodies httpx itself reads in full (401s and token answers inside the
auth flow) as well as the ones preflight streams.

* A success body (2xx) over its cap raises ``BodyRefused``: a token, manifest, config or list
  that big is an attack or a misconfiguration, and the lookup is a PF209.
* An error body (any other status) is cut at its cap: only its first bytes are ever looked at.
* Only ``identity``, ``gzip`` and ``deflate`` are accepted (and asked for); another encoding is
  ``BodyRefused``, never handed to an unbounded decoder (httpx uses brotli/zstd when installed).
* The run's deadline is checked between chunks, so a body that trickles in forever ends there.
* A compressed body ends where its gzip/deflate stream ends: bytes sent after it are not read (zlib
  would keep them in memory, with no output to count, until the deadline).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

import httpx

ACCEPT_ENCODING = "gzip, deflate"
EXT_BODY_CAP = "preflight_body_cap"  # request extension: the most decoded bytes its 2xx body may have
DEFAULT_CAP = 64 * 1024  # a request that names no cap: tokens, errors
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyRefused(Exception):
    """A body preflight will not read: too large once decoded, or in an encoding it does not take.

    ``message`` is a safe sentence naming the host."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_text(text: str, limit: int) -> str:
    out = "".join(c if " " <= c <= "~" else "?" for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def size_text(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


class _Inflater:
    """An incremental gzip/deflate decoder that never produces more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.wbits = _DECODERS[encoding]
        self.obj = zlib.decompressobj(self.wbits)
        self.started = False

    def decode(self, data: bytes, most: int) -> bytes:
        """Up to ``most`` bytes of output; more input left over means more output than ``most``."""
        try:
            out = self.obj.decompress(data, most)
        except zlib.error:
            if self.encoding != "deflate" or self.started:
                raise httpx.DecodingError("invalid compressed data") from None
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without the zlib header
            self.wbits = -zlib.MAX_WBITS
            try:
                out = self.obj.decompress(data, most)
            except zlib.error:
                raise httpx.DecodingError("invalid compressed data") from None
        self.started = True
        return out

    @property
    def pending(self) -> bool:
        return bool(self.obj.unconsumed_tail)

    @property
    def ended(self) -> bool:
        """The compressed stream is complete: zlib would keep whatever follows (``unused_data``)
        without a bound and without output, so nothing more is read."""
        return bool(self.obj.eof)


class BoundedStream(httpx.AsyncByteStream):
    """``raw`` decoded and counted; see the module docstring for what happens at the cap."""

    def __init__(
        self,
        raw: httpx.AsyncByteStream,
        *,
        encoding: str | None,
        cap: int,
        truncate: bool,
        host: str,
        check_deadline: Callable[[], None],
        refused: str | None = None,
    ) -> None:
        self.raw = raw
        self.refused = refused
        self.inflater = _Inflater(encoding) if encoding else None
        self.cap = cap
        self.truncate = truncate
        self.host = host
        self.check_deadline = check_deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.refused is not None:
            raise BodyRefused(self.refused)
        produced = 0
        async for chunk in self.raw:
            self.check_deadline()
            room = self.cap - produced
            if self.inflater is not None:
                out = self.inflater.decode(chunk, room + 1)
                over = len(out) > room or self.inflater.pending
            else:
                out = chunk[: room + 1]
                over = len(chunk) > room
            if over:
                if not self.truncate:
                    raise BodyRefused(f"{self.host} sent an answer larger than {size_text(self.cap)}")
                out = out[:room]
            produced += len(out)
            if out:
                yield out
            if over:
                return  # an error body cut at its cap: the rest is never read
            if self.inflater is not None and self.inflater.ended:
                return  # bytes after the end of a gzip/deflate stream are never read

    async def aclose(self) -> None:
        await self.raw.aclose()


def bounded(response: httpx.Response, request: httpx.Request, check_deadline: Callable[[], None]) -> httpx.Response:
    """``response`` with its body decoded under the cap the request names (module docstring)."""
    if request.method == "HEAD":
        return response
    encodings = [e.strip().lower() for e in response.headers.get_list("content-encoding", split_commas=True)]
    encodings = [e for e in encodings if e and e != "identity"]
    host = request.url.netloc.decode("ascii", "replace")
    ok = 200 <= response.status_code < 300
    refused = None
    cap = int(request.extensions.get(EXT_BODY_CAP, DEFAULT_CAP)) if ok else DEFAULT_CAP
    if len(encodings) > 1 or (encodings and encodings[0] not in _DECODERS):
        if ok:
            refused = (
                f"{host} sent a body in Content-Encoding {clean_text(', '.join(encodings), 40)!r}, "
                "which preflight does not accept"
            )
        encodings, cap = [], 0  # never decoded; an error body reads as empty
    dropped = ("content-encoding", "content-length") if encodings else ("content-encoding",)
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return httpx.Response(
        response.status_code,
        headers=headers,
        stream=BoundedStream(
            stream,
            encoding=encodings[0] if encodings else None,
            cap=cap,
            truncate=not ok,
            host=host,
            check_deadline=check_deadline,
            refused=refused,
        ),
        request=request,
        extensions=response.extensions,
    )
