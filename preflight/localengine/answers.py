"""What the Engine API's answers mean (pure): the API version to speak from ``/_ping``, the server's
version from its ``Server`` header, the engine's registry settings from ``/info``, an image from its inspect,
and how Docker names a reference in ``/images/json``. Whatever shape a body has, these return values,
never raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..facts import LocalImage
from ..safetext import redact_url

API_MAX = (1, 45)  # the newest Engine API version preflight asks for
API_MIN = (1, 24)  # spoken when /_ping names no version (the CLI's fallback)
MAX_LAYERS = 1000  # RootFS layers kept per image (Docker stacks at most 127)


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


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def parse_info(data: Any) -> EngineInfo:
    if not isinstance(data, dict):
        return EngineInfo()
    registry = data.get("RegistryConfig")
    registry = registry if isinstance(registry, dict) else {}
    mirrors = tuple(m.rstrip("/") for m in strings(registry.get("Mirrors")))
    insecure = list(strings(registry.get("InsecureRegistryCIDRs")))
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
    layers = strings(rootfs.get("Layers"))[:MAX_LAYERS] if isinstance(rootfs, dict) else ()
    return LocalImage(reference, data["Id"][:80], platform, strings(data.get("RepoDigests"))[:20], layers)


def server_version(header: str) -> str | None:
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
