"""The Engine API, asked over its socket (or TCP) with httpx: ``/_ping`` for the API version and
the server's version, then the images and, beside them on a second connection, ``/info``.

Which images the engine holds: ``/images/{name}/json`` per reference when there are few; from
``LIST_FROM`` references on (Docker only), one ``/images/json`` listing filtered by the references'
familiar names, then one inspect per distinct image held (for its platform and digests). Both
paths give the same facts (tests/registry/test_engine_real.py); the listing saves a round trip
and httpx's per-request work (about half a millisecond) for every reference.

What the answers mean (``/_ping``'s versions, ``/info``, an image's inspect) is ``answers``'s.
Every body is read as a bounded stream; every request has a timeout and the whole step a
deadline. Nothing here raises for a broken engine: the answer says what went wrong.
"""

from __future__ import annotations

import errno
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ..facts import EngineFacts, LocalImage
from ..safetext import redact_url
from .answers import EngineInfo, familiar, negotiate, parse_image, parse_info, server_version, strings
from .discover import Target

log = logging.getLogger("preflight.localengine")

MAX_SMALL = 1 << 20  # /_ping, /info
MAX_IMAGE = 4 << 20  # /images/{name}/json (config and history of one image)
MAX_LIST = 8 << 20  # /images/json filtered to the references: a few hundred bytes per image held
CONCURRENCY = 2  # connections: the image requests, and /info beside them
LIST_FROM = 8  # references: from this many on, one listing instead of one inspect each


class _TooLarge(Exception):
    pass


def _get(client: httpx.Client, path: str, cap: int, deadline: float) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``path``: at most ``cap`` bytes, read until ``deadline`` (``time.monotonic()``), checked
    between chunks: httpx's timeout is per read, so an answer dripping a byte at a time never trips it."""
    with client.stream("GET", path) as response:
        body = bytearray()
        for chunk in response.iter_raw():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.split('?')[0]} was still answering at the deadline")
            body += chunk
            if len(body) > cap:
                raise _TooLarge(f"{path.split('?')[0]} answered more than {cap // 1024} KiB")
        return response.status_code, response.headers, bytes(body)


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def diagnose(exc: BaseException, target: Target, timeout: float) -> str:
    """Why the engine did not answer, in words a user acts on."""
    where = target.socket_path or redact_url(target.url)
    if isinstance(exc, _TooLarge):
        return f"it sent an answer too large to read ({exc})"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"no answer from {where} within {timeout:g} s"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"TLS with {where} failed ({getattr(cause, 'reason', None) or 'handshake failed'})"
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ENOENT:
                return f"there is no socket at {where}"
            if cause.errno in (errno.EACCES, errno.EPERM):
                return f"permission denied on {where} (is this user in the docker group?)"
            if cause.errno == errno.ECONNREFUSED:
                return f"nothing accepts connections at {where} (is the engine running?)"
            return f"cannot connect to {where} ({cause.strerror or errno.errorcode.get(cause.errno, cause.errno)})"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.HTTPError):
        return f"{where} did not answer as a Docker engine ({type(exc).__name__})"
    return f"{where} did not answer ({type(exc).__name__})"


class _SocketTransport(httpx.HTTPTransport):
    """httpx's transport over a Unix socket, without the ``SSLContext`` httpx's constructor makes
    for every transport (no TLS on a socket; creating the first one costs milliseconds)."""

    def __init__(self, path: str, limits: httpx.Limits) -> None:  # not super().__init__(): it makes the context
        import httpcore

        self._pool = httpcore.ConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            uds=path,
            retries=0,
        )


def _client(target: Target, timeout: float) -> httpx.Client:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    path = target.socket_path
    transport: httpx.BaseTransport
    if path is not None:
        transport = _SocketTransport(path, limits)
    else:
        verify: ssl.SSLContext | bool = False
        if target.tls is not None:
            context = (
                ssl.create_default_context(cafile=target.tls.ca)
                if target.tls.verify
                else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            )
            if not target.tls.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if target.tls.cert and target.tls.key:
                context.load_cert_chain(target.tls.cert, target.tls.key)
            verify = context
        transport = httpx.HTTPTransport(verify=verify, limits=limits)
    return httpx.Client(
        transport=transport,
        base_url=target.base_url,
        timeout=httpx.Timeout(timeout),
        trust_env=False,  # the engine is local (or named): never through the user's HTTP proxy
        follow_redirects=False,
    )


class _Background:
    """``fn(*args)`` in a thread of its own. ``threading.Thread.start`` waits until the new thread
    runs (a scheduler's time slice on a loaded machine); this does not, and the thread never
    delays the interpreter's exit (a hung engine is given up at the deadline, not joined)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        import _thread

        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._result: Any = None

        def run() -> None:
            try:
                self._result = fn(*args)
            except Exception as exc:  # e.g. the client closed under it after a failed ping: no answer
                log.debug("engine: background request failed: %s", type(exc).__name__)
            finally:
                self._done.release()

        _thread.start_new_thread(run, ())

    def result(self, timeout: float) -> Any:
        """The answer, or None when there is none within ``timeout`` seconds."""
        return self._result if self._done.acquire(timeout=max(timeout, 0.001)) else None


Get = Any  # (path, cap) -> (status, parsed JSON or None)


def _by_inspect(get: Get, prefix: str, refs: Sequence[str], deadline: float) -> dict[str, LocalImage]:
    held: dict[str, LocalImage] = {}
    for ref in refs:
        if time.monotonic() > deadline:
            log.debug("engine: references not asked at the deadline, from %s on", ref)
            break
        code, data = get(f"{prefix}/images/{ref}/json", MAX_IMAGE)
        image = parse_image(ref, data) if code == 200 else None
        if image is not None:
            held[ref] = image
    return held


def _by_listing(get: Get, prefix: str, refs: Sequence[str], deadline: float) -> dict[str, LocalImage] | None:
    """One ``/images/json`` filtered by the references, then an inspect per distinct image held;
    None when the listing fails (the caller asks reference by reference)."""
    import json
    from urllib.parse import quote

    from ..imageref import ReferenceError as BadReference

    wanted: dict[str, list[str]] = {}
    try:
        for ref in refs:
            wanted.setdefault(familiar(ref), []).append(ref)
    except BadReference:  # not a canonical reference: let the engine judge each by itself
        return None
    query = quote(json.dumps({"reference": sorted(wanted)}, separators=(",", ":")), safe="")
    code, listing = get(f"{prefix}/images/json?filters={query}", MAX_LIST)
    if code != 200 or not isinstance(listing, list):
        return None
    by_image: dict[str, list[str]] = {}
    for entry in listing:
        if isinstance(entry, dict) and isinstance(entry.get("Id"), str):
            for name in strings(entry.get("RepoTags")) + strings(entry.get("RepoDigests")):
                by_image.setdefault(entry["Id"], []).extend(wanted.pop(name, ()))
    held: dict[str, LocalImage] = {}
    for image_id, names in by_image.items():
        if not names:
            continue
        if time.monotonic() > deadline:
            log.debug("engine: images not inspected at the deadline, from %s on", image_id[:19])
            break
        code, data = get(f"{prefix}/images/{image_id}/json", MAX_IMAGE)
        for ref in names:
            image = parse_image(ref, data) if code == 200 else None
            if image is not None:
                held[ref] = image
    return held


def ask(
    target: Target, references: Sequence[str], timeout: float, *, all_layers: bool = False
) -> tuple[EngineFacts, EngineInfo | None]:
    """Ping the engine, then ask for its settings and every reference (a synchronous client: no
    event loop to start, which a run with a warm registry cache never needs)."""
    started = time.monotonic()
    deadline = started + timeout
    endpoint = redact_url(target.url)

    def failed(detail: str) -> tuple[EngineFacts, None]:
        log.debug("engine %s (%s) did not answer: %s", endpoint, target.source, detail)
        return EngineFacts(endpoint, target.source, answered=False, detail=detail), None

    try:
        client = _client(target, timeout)
    except (OSError, ssl.SSLError) as exc:
        return failed(f"cannot use the TLS files for {endpoint}: {getattr(exc, 'strerror', None) or exc}")

    def one(path: str, cap: int) -> tuple[int, Any]:
        try:
            code, _, body = _get(client, path, cap, deadline)
        except (httpx.HTTPError, OSError, ssl.SSLError, _TooLarge) as exc:
            log.debug("engine %s: GET %s failed: %s", endpoint, path, diagnose(exc, target, timeout))
            return 0, None
        return code, _json(body) if code == 200 else None

    with client:
        # /info takes the engine milliseconds (it runs `runc --version`): a thread asks it (at the
        # engine's own API version, unversioned) while this one pings, then asks for the images on
        # one connection (sub-millisecond each; more threads cost more than they save).
        info_answer = _Background(one, "/info", MAX_SMALL)
        try:
            status, headers, _ = _get(client, "/_ping", MAX_SMALL, deadline)
        except (httpx.HTTPError, OSError, ssl.SSLError, _TooLarge) as exc:
            return failed(diagnose(exc, target, timeout))
        if status != 200:
            return failed(f"{endpoint} answered /_ping with HTTP {status}, not as a Docker engine")
        api = negotiate(headers.get("api-version"))
        server = server_version(headers.get("server", ""))
        prefix = f"/v{api}"
        refs = list(dict.fromkeys(references))
        held = None
        if len(refs) >= LIST_FROM and (server or "").startswith("Docker "):  # Podman's listing differs
            held = _by_listing(one, prefix, refs, deadline)
        if held is None:
            held = _by_inspect(one, prefix, refs, deadline)
        layers: tuple[str, ...] = ()
        if all_layers:
            asked: set[Any] = {image.id for image in held.values()}
            layers = _all_layers(lambda path: one(f"{prefix}{path}", MAX_IMAGE), asked, deadline)
        answer = info_answer.result(max(0.1, deadline - time.monotonic()))
        info = answer[1] if answer is not None else None
    for ref in refs:
        image = held.get(ref)
        log.debug("engine: %s %s", ref, f"held ({image.platform}, {image.id[:19]})" if image else "not held")
    log.debug(
        "engine %s (%s): %s, API %s, %d of %d references held, %.0f ms",
        endpoint,
        target.source,
        server or "version unknown",
        api,
        len(held),
        len(refs),
        (time.monotonic() - started) * 1000,
    )
    facts = EngineFacts(endpoint, target.source, True, version=server, api_version=api, images=held, layers=layers)
    return facts, parse_info(info) if info is not None else None


MAX_OTHER_IMAGES = 256  # images inspected for their layers (--deep's disk sum), besides the references


def _all_layers(get: Callable[[str], tuple[int, Any]], asked: set[Any], deadline: float) -> tuple[str, ...]:
    """The RootFS layer diff IDs of the images the engine holds that were not asked about already
    (``/images/json``, then each image's inspect, until ``deadline``): what a pull will not download."""
    code, listing = get("/images/json")
    ids = [i.get("Id") for i in listing if isinstance(i, dict)] if code == 200 and isinstance(listing, list) else []
    found: dict[str, None] = {}
    for image_id in [i for i in ids if isinstance(i, str) and i not in asked][:MAX_OTHER_IMAGES]:
        if time.monotonic() > deadline:
            break
        code, data = get(f"/images/{image_id}/json")
        image = parse_image(image_id, data) if code == 200 else None
        found.update(dict.fromkeys(image.layers if image is not None else ()))
    return tuple(found)
