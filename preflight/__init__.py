"""preflight: catch broken container image references before a build starts."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("preflight")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.1.0"
