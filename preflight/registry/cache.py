"""On-disk cache of registry answers (``ImageFacts``) with a time to live.

* Positive answers (``ok``) live ``ttl`` seconds; definitive negatives (tag, digest or repository
  missing, "missing or private") live ``negative_ttl``; everything else (network, TLS, rate limits,
  auth failures, registry errors, not checked) is never stored.
* One JSON file (``facts-v1.json``) in a ``0700`` directory, written atomically with mode ``0600``;
  concurrent runs merge on save. A corrupt or unreadable file is ignored, never a crash.
* No secrets: ``ImageFacts`` carries none (``credential_source`` is a description). Keys are built
  by the client and MUST include ``Credential.identity`` (a one-way hash) so that answers obtained with
  one user's credentials are never served to another user or to an anonymous run: ``cache_key`` does it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..facts import ImageFacts, Status

CACHE_FILE = "facts-v1.json"
_VERSION = 1
NEGATIVE_STATUSES = frozenset(
    {Status.TAG_MISSING, Status.REPO_MISSING, Status.DIGEST_MISSING, Status.REPO_MISSING_OR_PRIVATE}
)


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/preflight``, else ``~/.cache/preflight``."""
    base = environ.get("XDG_CACHE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "preflight"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".cache" / "preflight"


def cache_key(reference: str, endpoint: str, platforms: Iterable[str], credential_identity: str | None) -> str:
    """A cache key: reference, the endpoint that answered, requested platforms, and who asked."""
    parts = [reference, endpoint, ",".join(sorted(platforms)), credential_identity or "anonymous"]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ (de)serialization
_HINTS = typing.get_type_hints(ImageFacts)


def _encode(facts: ImageFacts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclasses.fields(ImageFacts):
        value = getattr(facts, item.name)
        if isinstance(value, Status):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[item.name] = value
    return out


def _decode_value(value: Any, hint: Any) -> Any:
    """``value`` from JSON converted to ``hint``; raises ValueError/TypeError when it does not fit."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode_value(value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError("no union member fits")
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError("expected a list")
        return tuple(_decode_value(item, typing.get_args(hint)[0]) for item in value)
    if hint is Status:
        return Status(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int) and type(value) is hint:
        return value
    raise TypeError(f"expected {hint}")


def _decode(data: Any) -> ImageFacts:
    if not isinstance(data, dict) or set(data) - set(_HINTS):
        raise TypeError("unexpected fields")
    return ImageFacts(**{name: _decode_value(value, _HINTS[name]) for name, value in data.items()})


# ------------------------------------------------------------------ cache
class FactsCache:
    """``get``/``put`` in memory, ``save`` once at the end of the run."""

    def __init__(
        self, directory: Path, ttl: float, negative_ttl: float, *, now: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.path = directory / CACHE_FILE
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._now = now
        self.hits = 0
        self.error: str | None = None  # why the last save failed, if it did
        self._entries: dict[str, tuple[float, ImageFacts]] = self._read()
        self._changed: dict[str, tuple[float, ImageFacts]] = {}

    def _read(self) -> dict[str, tuple[float, ImageFacts]]:
        """Valid, unexpired entries of the file; anything unreadable counts as empty."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("entries"), dict):
            return {}
        now = self._now()
        entries: dict[str, tuple[float, ImageFacts]] = {}
        for key, entry in data["entries"].items():
            try:
                expires = entry["expires"]
                if isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires <= now:
                    continue
                entries[key] = (float(expires), _decode(entry["facts"]))
            except (KeyError, TypeError, ValueError):
                continue
        return entries

    def get(self, key: str) -> ImageFacts | None:
        """The cached facts for ``key``; None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, facts = entry
        if expires <= self._now():
            del self._entries[key]
            return None
        self.hits += 1
        return facts

    def lifetime(self, facts: ImageFacts) -> float:
        """How long ``facts`` may be cached: ``ttl``, ``negative_ttl`` or 0 (never)."""
        if facts.status is Status.OK:
            return self.ttl
        if facts.status in NEGATIVE_STATUSES:
            return self.negative_ttl
        return 0.0

    def put(self, key: str, facts: ImageFacts) -> None:
        """Remember ``facts`` if its status is cacheable (module docstring)."""
        lifetime = self.lifetime(facts)
        if lifetime <= 0:
            return
        entry = (self._now() + lifetime, facts)
        self._entries[key] = entry
        self._changed[key] = entry

    def save(self) -> None:
        """Merge with the file as it is now and replace it atomically; failures only set ``error``."""
        if not self._changed:
            return
        merged = self._read()
        merged.update(self._changed)
        payload = {
            "version": _VERSION,
            "entries": {key: {"expires": expires, "facts": _encode(facts)} for key, (expires, facts) in merged.items()},
        }
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.chmod(self.directory, 0o700)
            except PermissionError:
                pass  # a shared directory we do not own: the file itself is still 0600
            fd, temp = tempfile.mkstemp(prefix=".facts-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as stream:
                    json.dump(payload, stream, separators=(",", ":"))
                os.chmod(temp, 0o600)
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.error = f"cannot write the cache in {self.directory}: {exc.strerror or exc}"
            return
        self.error = None
        self._changed.clear()
