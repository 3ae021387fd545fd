"""Injectable resolvers for tests of the registry address logic (no real DNS)."""

from __future__ import annotations

import socket
from collections.abc import Callable


def no_dns(name: str) -> list[str]:
    """A resolver that fails the test when called."""
    raise AssertionError(f"unexpected DNS lookup of {name}")


def fake_dns(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    """A resolver answering from ``table``; unknown names fail like NXDOMAIN."""

    def resolve(name: str) -> list[str]:
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[name]

    return resolve
