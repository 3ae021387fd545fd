"""Compressed registry bodies that never end: the decoder's output is capped, but what follows the
end of a gzip/deflate stream is input the decoder keeps (``unused_data``) without any output, so
it must not be read at all. Real CLI against a loopback server; peak memory as in
``test_hostile_bodies``."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .httpthread import BackgroundHTTPServer, QuietHandler
from .test_hostile_bodies import PEAK_LIMIT_KB, measured_check, only_finding

TAGS = json.dumps({"name": "app", "tags": ["1.0.0", "1.1.0"]}).encode()
ENCODED = {
    "gzip": gzip.compress(TAGS),
    "deflate": zlib.compress(TAGS),
    "deflate-raw": zlib.compress(TAGS, wbits=-zlib.MAX_WBITS),
}


class TrailingForever(QuietHandler):
    """A missing tag (404), then a tags list whose compressed body is followed by endless bytes."""

    encoding = "gzip"

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path.endswith("/tags/list"):
            headers = [("Content-Type", "application/json"), ("Content-Encoding", self.encoding.removesuffix("-raw"))]
            self.send_forever(200, headers, ENCODED[self.encoding], b"\0" * 65536)
        elif path in ("/v2/", "/v2"):
            self.send(200, b"{}", [("Content-Type", "application/json")])
        else:
            self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', [("Content-Type", "application/json")])

    do_HEAD = do_GET


@pytest.fixture(params=sorted(ENCODED))
def server(request: pytest.FixtureRequest) -> Iterator[BackgroundHTTPServer]:
    handler = type("Handler", (TrailingForever,), {"encoding": request.param})
    running = BackgroundHTTPServer(handler, "trailing-forever").start()
    try:
        yield running
    finally:
        running.stop()


def test_bytes_after_the_compressed_end_are_not_read(tmp_path: Path, server: BackgroundHTTPServer) -> None:
    """Before: the bytes after the end piled up in the decoder until the deadline (1.6 GB in 8 s)."""
    done, peak = measured_check(tmp_path, f"FROM {server.hostport}/app:1.0\n")
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KiB"
    finding = only_finding(done)
    assert finding["rule"] == "PF201", finding  # the list as compressed: "did you mean"
    assert "1.0.0" in str(finding["message"]), finding
