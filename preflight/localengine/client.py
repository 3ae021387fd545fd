"""The Engine API, asked over its socket (or TCP) with httpx: ``/_ping`` for the API version and
the server's version, then the images and, beside them on a second connection, ``/info``.

Which images the engine holds: ``/images/{name}/json`` per reference when there are few; from
``LIST_FROM`` references on (Docker only), one ``/images/json`` listing filtered by the references'
familiar names, then one inspect per distinct image held (for its platform and digests). Both
paths give the same facts (tests/registry/test_engine_real.py); the listing saves a round trip
and httpx's per-request work (about half a millisecond) for every reference.

Every body is read as a bounded stream; every request has a timeout and the whole step a
deadline. Nothing here raises for a broken engine: the answer says what went wrong.
"""

from __future__ import annotations

import errno
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..facts import EngineFacts, LocalImage
from ..safetext import redact_url
from .discover import Target

log = logging.getLogger("preflight.localengine")

API_MAX = (1, 45)  # the newest Engine API version preflight asks for
API_MIN = (1, 24)  # spoken when /_ping names no version (the CLI's fallback)
MAX_SMALL = 1 << 20  # /_ping, /info
MAX_IMAGE = 4 << 20  # /images/{name}/json (config and history of one image)
MAX_LAYERS = 1000  # RootFS layers kept per image (Docker stacks at most 127)
MAX_LIST = 8 << 20  # /images/json filtered to the references: a few hundred bytes per image held
CONCURRENCY = 2  # connections: the image requests, and /info beside them
LIST_FROM = 8  # references: from this many on, one listing instead of one inspect each


@dataclass(frozen=True)
class EngineInfo:
    """The engine's own settings from ``/info`` (what its pulls use)."""

    mirrors: tuple[str, ...] = ()  # registry mirrors, no trailing slash
    insecure: tuple[str, ...] = ()  # insecure registry CIDRs and host[:port] names
    http_proxy: str = ""  # redacted
    https_proxy: str = ""
    no_proxy: str = ""
    root_dir: str | None = None
    driver: str | None = None
    name: str | None = None
    os_type: str | None = None
    architecture: str | None = None


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


def _version(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    major, _, minor = text.strip().partition(".")
    if not (major.isdigit() and minor.isdigit()) or len(major) > 3 or len(minor) > 4:
        return None
    return int(major), int(minor)


def negotiate(server: str | None) -> str:
    """The API version to speak: the engine's when older than ``API_MAX``, 1.24 when it names
    none (the docker CLI's negotiation)."""
    found = _version(server)
    chosen = API_MIN if found is None else min(found, API_MAX)
    return f"{chosen[0]}.{chosen[1]}"


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


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def parse_info(data: Any) -> EngineInfo:
    if not isinstance(data, dict):
        return EngineInfo()
    registry = data.get("RegistryConfig")
    registry = registry if isinstance(registry, dict) else {}
    mirrors = tuple(m.rstrip("/") for m in _strings(registry.get("Mirrors")))
    insecure = list(_strings(registry.get("InsecureRegistryCIDRs")))
    indexes = registry.get("IndexConfigs")
    if isinstance(indexes, dict):
        for name, index in sorted(indexes.items()):
            if isinstance(name, str) and isinstance(index, dict) and index.get("Secure") is False:
                insecure.append(name)
    return EngineInfo(
        mirrors=mirrors,
        insecure=tuple(insecure),
        http_proxy=redact_url(_str(data, "HttpProxy") or ""),
        https_proxy=redact_url(_str(data, "HttpsProxy") or ""),
        no_proxy=(_str(data, "NoProxy") or "")[:500],
        root_dir=_str(data, "DockerRootDir"),
        driver=_str(data, "Driver"),
        name=_str(data, "Name"),
        os_type=_str(data, "OSType"),
        architecture=_str(data, "Architecture"),
    )


def parse_image(reference: str, data: Any) -> LocalImage | None:
    if not isinstance(data, dict) or not isinstance(data.get("Id"), str):
        return None
    platform = "/".join(p for p in (_str(data, "Os"), _str(data, "Architecture"), _str(data, "Variant")) if p)
    rootfs = data.get("RootFS")
    layers = _strings(rootfs.get("Layers"))[:MAX_LAYERS] if isinstance(rootfs, dict) else ()
    return LocalImage(reference, data["Id"][:80], platform, _strings(data.get("RepoDigests"))[:20], layers)


def _server_version(header: str) -> str | None:
    """``Docker/20.10.24+dfsg1 (linux)`` -> ``Docker 20.10.24+dfsg1`` (``/_ping``'s Server header)."""
    product = header.split(" ", 1)[0][:80]
    return product.replace("/", " ", 1) if "/" in product else None


def familiar(reference: str) -> str:
    """How Docker names an ``ImageRef.canonical`` reference in ``/images/json`` (``RepoTags``,
    ``RepoDigests``) and matches it in the ``reference`` filter (Go's ``FamiliarString``): no
    ``docker.io/``, no ``library/``; a tag and a digest together are looked up by the digest."""
    from ..imageref import ImageRef

    ref = ImageRef.parse(reference)
    name = ref.name
    if ref.domain == "docker.io":
        name = ref.path.removeprefix("library/") if ref.path.count("/") == 1 else ref.path
    return f"{name}@{ref.digest}" if ref.digest else f"{name}:{ref.effective_tag}"


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
            for name in _strings(entry.get("RepoTags")) + _strings(entry.get("RepoDigests")):
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
        server = _server_version(headers.get("server", ""))
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
