"""Importing this package registers every rule (``preflight.engine`` imports it lazily)."""

from . import offline, registry  # noqa: F401
