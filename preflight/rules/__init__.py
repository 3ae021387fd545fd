"""Importing this package registers every rule (``preflight.engine`` imports it lazily)."""

from . import deep, engine, offline, registry  # noqa: F401
