"""Reading input files as text, with clear errors instead of exceptions.

Docker and Compose read UTF-8; a UTF-8 BOM is skipped. UTF-16/32 with a BOM is decoded (and
reported by the caller if it wants), anything else undecodable is an ``InputError`` with the
byte offset turned into a line number.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024  # files larger than this are refused, not read


class InputError(Exception):
    """A file cannot be read as text. ``line``/``column`` point at the offending place."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes) -> str:
    """Decode file bytes the way Docker/Compose would accept them, or raise ``InputError``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            if encoding != "utf-8":
                raise InputError(
                    f"file is encoded as {encoding.upper()}; Docker and Compose read UTF-8 only"
                    " (re-save the file as UTF-8)"
                )
            data = data[len(bom) :]
            break
    if b"\x00" in data:
        offset = data.index(b"\x00")
        line, col = _position(data, offset)
        raise InputError("file contains a NUL byte (is it binary?)", line, col)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(data, exc.start)
        raise InputError(f"invalid UTF-8 (byte 0x{data[exc.start]:02x})", line, col) from None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    col = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return line, col


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a file as text or raise ``InputError`` with a readable reason."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):  # opening a FIFO would wait for a writer forever
            raise InputError("is not a regular file (a FIFO, socket or device); not read")
        size = st.st_size
        if size > MAX_BYTES:
            raise InputError(
                f"file is {size // (1024 * 1024)} MiB; preflight reads files up to {MAX_BYTES // (1024 * 1024)} MiB"
            )
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except InputError:
        raise
    except PermissionError:
        raise InputError("permission denied") from None
    except FileNotFoundError:
        raise InputError("file not found") from None
    except ValueError:  # a NUL byte in the path
        raise InputError("the path contains a NUL byte") from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc)) from None
    return decode(data)
