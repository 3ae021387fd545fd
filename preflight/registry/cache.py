"""On-disk cache of registry answers (``ImageFacts``) with a time to live.

* Positive answers (``ok``) live ``ttl`` seconds; definitive negatives (tag, digest or repository
  missing, "missing or private") live ``negative_ttl``; everything else (network, TLS, rate limits,
  auth failures, registry errors, not checked) is never stored.
* An entry is read only while it is younger than the *reading* run's lifetime for its status, whatever
  lifetime the writing run had (a project's ``cache-ttl`` is capped at the user's by ``preflight.config``
  too): one run's lifetimes cannot keep an answer alive for another's. An entry dated in the future is
  dropped. ``get`` returns the facts with ``cached_age`` set, so findings can say the answer is cached.
* One JSON file (``facts-v2.json``) in a ``0700`` directory, written atomically with mode ``0600``;
  concurrent runs merge on save. A corrupt or unreadable file is ignored, never a crash.
* ``--deep`` facts of an image found damaged are never stored (it may be re-pushed any minute). What a
  run learned from bytes verified against their sha256 digest (a manifest's layers, a config's platform)
  is content, immutable: kept without a lifetime in the file's ``content`` section (``get_content``),
  at most ``CONTENT_CAP`` digests, the oldest dropped first.
* No secrets: ``ImageFacts`` carries none (``credential_source`` is a description).
* Keys (``cache_key``) hold everything that decides *whose* answer it is: the reference, every endpoint
  the lookup may ask with how far its TLS is trusted (``endpoint_identity``: plain HTTP or unverified
  TLS, else verified against the system store (``SSL_CERT_FILE``/``SSL_CERT_DIR``) plus the sha256 of
  the configured CA file's content), the platforms asked for, and ``Credential.identity`` (a one-way
  hash) of the credentials sent. So an answer obtained under lowered trust (an insecure endpoint, a
  project's CA, an endpoint override) is never read by a run with normal trust, and an answer obtained
  with one user's credentials never by another user or an anonymous run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import tempfile
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..facts import ImageFacts, Status

CACHE_FILE = "facts-v2.json"
CONTENT_CAP = 20_000  # digests whose content is remembered (a few hundred bytes each)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_VERSION = 2
_NOT_STORED = frozenset({"cached_age"})  # set by ``get``, never written
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


def cache_key(
    reference: str,
    endpoints: Sequence[str],
    platforms: Iterable[str],
    credential_identity: str | None,
    *,
    deep: bool = False,
) -> str:
    """A cache key: reference, the endpoints that may answer (``endpoint_identity``, in order), requested
    platforms, who asked, and whether every blob was asked about too (``--deep``)."""
    parts = [reference, *endpoints, ",".join(sorted(platforms)), credential_identity or "anonymous"]
    if deep:
        parts.append("deep")
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def endpoint_identity(
    base_url: str,
    *,
    insecure: bool,
    ca_file: str | None,
    environ: Mapping[str, str],
    client_cert: tuple[str, str] | None = None,
) -> str:
    """An endpoint and how far its answers are trusted: ``unverified`` (plain HTTP or TLS without
    verification), else the trust store (``SSL_CERT_FILE``/``SSL_CERT_DIR``) and the configured CA's content;
    and who asked over mutual TLS (the client certificate's sha256, never the key)."""
    if insecure or not base_url.lower().startswith("https://"):
        return f"{base_url} unverified"
    store = f"{environ.get('SSL_CERT_FILE', '')}:{environ.get('SSL_CERT_DIR', '')}"
    identity = f"{base_url} verified store={store} ca={ca_identity(ca_file) if ca_file else 'none'}"
    return identity + (f" client={ca_identity(client_cert[0])}" if client_cert else "")


@functools.lru_cache(maxsize=64)
def ca_identity(path: str) -> str:
    """sha256 of a CA file's bytes, or of a certs.d directory's ``*.crt`` names and bytes; an unreadable
    one gets an identity of its own (its lookups fail on TLS and are never stored anyway)."""
    digest = hashlib.sha256()
    try:
        location = Path(path)
        files = sorted(location.glob("*.crt")) if location.is_dir() else [location]
        for file in files:
            digest.update(file.name.encode("utf-8", "surrogateescape") + b"\0" + file.read_bytes() + b"\0")
    except OSError:
        return f"unreadable:{path}"
    return digest.hexdigest()


# ------------------------------------------------------------------ (de)serialization
_D = typing.TypeVar("_D")
_HINTS: dict[type, dict[str, Any]] = {}  # type hints of the dataclasses stored, looked up once


def _encode(facts: ImageFacts) -> dict[str, Any]:
    return {name: value for name, value in _encode_value(facts).items() if name not in _NOT_STORED}


def _encode_value(value: Any) -> Any:
    """JSON for a facts value: enums by value, tuples as lists, nested dataclasses as objects."""
    if isinstance(value, Status):
        return value.value
    if isinstance(value, tuple):
        return [_encode_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _encode_value(getattr(value, item.name)) for item in dataclasses.fields(value)}
    return value


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
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_object(hint, value, set())
    if hint is Status:
        return Status(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int) and type(value) is hint:
        return value
    raise TypeError(f"expected {hint}")


def _decode(data: Any) -> ImageFacts:
    return _decode_object(ImageFacts, data, _NOT_STORED)


def _decode_object(kind: type[_D], data: Any, not_stored: frozenset[str] | set[str]) -> _D:
    hints = _HINTS.get(kind) or _HINTS.setdefault(kind, typing.get_type_hints(kind))
    if not isinstance(data, dict) or set(data) - (set(hints) - not_stored):
        raise TypeError("unexpected fields")
    return kind(**{name: _decode_value(value, hints[name]) for name, value in data.items()})


# ------------------------------------------------------------------ cache
@dataclasses.dataclass(frozen=True)
class _Entry:
    written: float  # when the registry answered (wall clock)
    expires: float  # the writing run's lifetime for it
    facts: ImageFacts


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
        self._content: dict[str, Any] = {}
        self._entries: dict[str, _Entry] = self._read()
        self._changed: dict[str, _Entry] = {}
        self._new_content: dict[str, Any] = {}

    def _read(self) -> dict[str, _Entry]:
        """Valid entries of the file that this run may still use; anything unreadable counts as empty.
        Also (re)loads the content section (``get_content``)."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("entries"), dict):
            return {}
        content = data.get("content")
        if isinstance(content, dict):
            self._content = {k: v for k, v in content.items() if isinstance(k, str) and _DIGEST.fullmatch(k)}
        entries: dict[str, _Entry] = {}
        for key, item in data["entries"].items():
            try:
                written, expires = _number(item["written"]), _number(item["expires"])
                entry = _Entry(written, expires, _decode(item["facts"]))
            except (KeyError, TypeError, ValueError):
                continue
            if self._usable(entry):
                entries[key] = entry
        return entries

    def _usable(self, entry: _Entry) -> bool:
        """Written in the past and not older than the writer's lifetime nor this run's own."""
        now = self._now()
        return entry.written <= now < min(entry.expires, entry.written + self.lifetime(entry.facts))

    def get(self, key: str) -> ImageFacts | None:
        """The cached facts for ``key`` (with ``cached_age``); None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not self._usable(entry):
            del self._entries[key]
            return None
        self.hits += 1
        return dataclasses.replace(entry.facts, cached_age=max(0.0, self._now() - entry.written))

    def lifetime(self, facts: ImageFacts) -> float:
        """How long ``facts`` may be cached: ``ttl``, ``negative_ttl`` or 0 (never)."""
        if facts.unconfirmed:
            return 0.0  # a mirror's answer the upstream could not confirm: ask again next run
        if facts.status is Status.OK:
            return 0.0 if facts.damage else self.ttl  # a damaged image may be re-pushed any minute
        if facts.status in NEGATIVE_STATUSES:
            return self.negative_ttl
        return 0.0

    def put(self, key: str, facts: ImageFacts) -> None:
        """Remember ``facts`` if its status is cacheable (module docstring)."""
        lifetime = self.lifetime(facts)
        if lifetime <= 0:
            return
        now = self._now()
        entry = _Entry(now, now + lifetime, dataclasses.replace(facts, cached_age=None))
        self._entries[key] = entry
        self._changed[key] = entry

    def get_content(self, digest: str) -> Any:
        """What a run learned from the bytes behind ``digest`` (``put_content``), or None. Content is
        immutable, so this never expires; the caller validates it (a cache is a file anyone may edit)."""
        return self._new_content.get(digest, self._content.get(digest))

    def put_content(self, digest: str, value: Any) -> None:
        """Remember ``value`` (JSON) for ``digest``: only for bytes verified to hash to it."""
        if _DIGEST.fullmatch(digest):
            self._new_content[digest] = value

    def save(self) -> None:
        """Merge with the file as it is now and replace it atomically; failures only set ``error``."""
        if not self._changed and not self._new_content:
            return
        merged = self._read()
        merged.update(self._changed)
        content = {**self._content, **self._new_content}
        if len(content) > CONTENT_CAP:  # the oldest go first (dicts keep insertion order)
            content = dict(list(content.items())[-CONTENT_CAP:])
        payload = {
            "version": _VERSION,
            "entries": {
                key: {"written": e.written, "expires": e.expires, "facts": _encode(e.facts)}
                for key, e in merged.items()
            },
            "content": content,
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
        self._content = content
        self._new_content.clear()


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise TypeError("expected a number")
    return float(value)
