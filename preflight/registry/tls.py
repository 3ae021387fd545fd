"""The ``SSLContext`` for an ``Endpoint`` (registry-protocol.md §7): the system trust store plus the endpoint's
CA file or certs.d directory, its client certificate (mutual TLS), or no verification for an insecure registry.

The key's bytes are read by OpenSSL only, never logged; an encrypted key is refused (preflight never prompts
for a passphrase). Only ``ssl`` is imported here (no httpx); contexts are created lazily and cached.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .endpoints import Endpoint


class CAError(ValueError):
    """A configured CA file or directory, or a client certificate, cannot be loaded; ``str(err)`` names
    the files (never their content)."""


def ssl_context_for(endpoint: Endpoint) -> ssl.SSLContext:
    """One shared ``SSLContext`` per (ca_file, insecure, client_cert): creating one costs tens of milliseconds.

    Verified contexts trust the system store (``ssl.create_default_context()``, which honours
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``; certifi when the system has no store) plus ``ca_file``, and
    present ``client_cert``. Insecure endpoints get a context that verifies nothing. Raises ``CAError``
    for an unloadable CA or client certificate.
    """
    context = _context(endpoint.ca_file, endpoint.insecure)
    if endpoint.client_cert is None or endpoint.insecure:
        return context
    return _with_client_cert(endpoint.ca_file, *endpoint.client_cert)


@functools.cache
def _with_client_cert(ca_file: str | None, cert: str, key: str) -> ssl.SSLContext:
    if not Path(cert).is_file():
        raise CAError(f"missing client certificate {cert} for key {key}")
    if not Path(key).is_file():
        raise CAError(f"missing key {key} for client certificate {cert}")
    context = _new_context(ca_file, False)  # a context of its own: the shared one presents no certificate
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise CAError(f"the client key {key} is encrypted; preflight cannot ask for its passphrase") from None
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        raise CAError(f"cannot load client certificate {cert} with key {key} ({reason})") from None
    return context


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    raise _EncryptedKey  # OpenSSL would otherwise prompt on the terminal


def _new_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if not _has_trust_store(context):
        _load_certifi(context)
    if ca_file:
        path = Path(ca_file)
        files = sorted(path.glob("*.crt")) if path.is_dir() else [path]
        for file in files:
            try:
                context.load_verify_locations(cafile=str(file))
            except (OSError, ssl.SSLError) as exc:
                raise CAError(
                    f"cannot load CA certificates from {file}: {getattr(exc, 'strerror', None) or exc}"
                ) from None
    return context


_context = functools.cache(_new_context)


def _has_trust_store(context: ssl.SSLContext) -> bool:
    if context.cert_store_stats().get("x509_ca", 0):
        return True
    capath = ssl.get_default_verify_paths().capath
    return bool(capath) and any(Path(capath).iterdir())


def _load_certifi(context: ssl.SSLContext) -> None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return
    context.load_verify_locations(cafile=certifi.where())
