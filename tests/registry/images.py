"""Deterministic fixture images and pushing them through the registry HTTP API (docs/test-registry.md section 5)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ALL_MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT_ALL = ", ".join(ALL_MANIFEST_TYPES)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace: the same bytes (and digest) on every run."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Manifest(Blob):
    """An image manifest (``blobs`` = config then layers) or an index/list (``children``)."""

    platform: str | None = None
    blobs: tuple[Blob, ...] = ()
    children: tuple[Manifest, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in (OCI_INDEX, DOCKER_LIST)

    @property
    def layers(self) -> tuple[Blob, ...]:
        return self.blobs[1:]

    def child_digests(self) -> dict[str, str]:
        """{"linux/amd64": child digest, ...} for an index; empty for an image manifest."""
        return {child.platform or "": child.digest for child in self.children}


def split_platform(platform: str) -> tuple[str, str, str | None]:
    parts = platform.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform must be os/arch[/variant]: {platform!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _layer_tar(seed: str, platform: str) -> bytes:
    """An uncompressed tar with fixed metadata: mtime 0, mode 0644, root owner, sorted names."""
    files = {
        "etc/preflight-fixture": f"{seed}\n".encode(),
        "etc/preflight-platform": f"{platform}\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def build_image(seed: str, platform: str = "linux/amd64", *, oci: bool = True) -> Manifest:
    """A single-platform image manifest (OCI or Docker schema2) whose content depends only on the arguments."""
    os_name, architecture, variant = split_platform(platform)
    tar = _layer_tar(seed, platform)
    layer = Blob(OCI_LAYER if oci else DOCKER_LAYER, gzip.compress(tar, compresslevel=6, mtime=0))
    config_doc: dict[str, Any] = {
        "architecture": architecture,
        "os": os_name,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f"FIXTURE={seed}"],
            "Cmd": ["/bin/sh"],
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        "created": "1970-01-01T00:00:00Z",
    }
    if variant:
        config_doc["variant"] = variant
    config = Blob(OCI_CONFIG if oci else DOCKER_CONFIG, canonical_json(config_doc))
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    return Manifest(media_type, canonical_json(document), platform, (config, layer))


def build_index(children: Iterable[Manifest], *, oci: bool = True) -> Manifest:
    """An OCI image index or Docker manifest list over single-platform manifests."""
    kids = tuple(children)
    entries = []
    for child in kids:
        if child.platform is None:
            raise ValueError("index children need a platform")
        os_name, architecture, variant = split_platform(child.platform)
        platform: dict[str, str] = {"architecture": architecture, "os": os_name}
        if variant:
            platform["variant"] = variant
        entries.append(
            {"mediaType": child.media_type, "digest": child.digest, "size": child.size, "platform": platform}
        )
    media_type = OCI_INDEX if oci else DOCKER_LIST
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    return Manifest(media_type, canonical_json(document), None, (), kids)


def build(
    seed: str, platforms: Iterable[str] = ("linux/amd64",), *, oci: bool = True, index: bool | None = None
) -> Manifest:
    """One image manifest for one platform, else an index; ``index=True`` forces an index."""
    wanted = tuple(platforms)
    if index is None:
        index = len(wanted) != 1
    children = [build_image(f"{seed}@{p}" if index else seed, p, oci=oci) for p in wanted]
    return build_index(children, oci=oci) if index else children[0]


@dataclass
class Pusher:
    """Pushes blobs and manifests with the exact upload sequence of docs/test-registry.md section 5."""

    base_url: str
    auth: httpx.Auth | tuple[str, str] | None = None
    verify: Any = None
    """None: no TLS context for http:// (loading the CA bundle costs ~30-100 ms), default trust for https://."""
    client: httpx.Client = field(init=False)
    requests: int = 0
    _done: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    """(repo, digest) of blobs and manifests this pusher already stored: skipped on later pushes."""

    def __post_init__(self) -> None:
        # Infrastructure, not the code under test: proxy variables must never reroute fixture pushes.
        verify = self.verify if self.verify is not None else self.base_url.startswith("https:")
        self.client = httpx.Client(base_url=self.base_url, auth=self.auth, verify=verify, trust_env=False, timeout=10.0)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        return self.client.request(method, url, **kwargs)

    def push_blob(self, repo: str, blob: Blob) -> None:
        if (repo, blob.digest) in self._done:
            return
        self._done.add((repo, blob.digest))
        if self._send("HEAD", f"/v2/{repo}/blobs/{blob.digest}").status_code == 200:
            return
        started = self._send("POST", f"/v2/{repo}/blobs/uploads/")
        _expect(started, 202)
        location = urljoin(str(started.url), started.headers["Location"])
        separator = "&" if "?" in location else "?"
        # Append the digest as text: re-encoding the opaque _state parameter breaks it.
        done = self._send(
            "PUT",
            f"{location}{separator}digest={blob.digest}",
            content=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(done, 201)

    def push_manifest(self, repo: str, reference: str, manifest: Manifest) -> str:
        """Push blobs, then children by digest, then the manifest under ``reference``; return its digest."""
        for blob in manifest.blobs:
            self.push_blob(repo, blob)
        for child in manifest.children:
            if (repo, child.digest) not in self._done:
                self.push_manifest(repo, child.digest, child)
        response = self._send(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            content=manifest.data,
            headers={"Content-Type": manifest.media_type},
        )
        _expect(response, 201)
        pushed = response.headers.get("Docker-Content-Digest")
        if pushed != manifest.digest:
            raise AssertionError(f"registry digest {pushed} != local {manifest.digest}")
        self._done.add((repo, manifest.digest))
        return manifest.digest

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete by digest (tags cannot be deleted in 2.8): removes every tag pointing at it."""
        _expect(self._send("DELETE", f"/v2/{repo}/manifests/{digest}"), 202)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url}: expected {status}, "
            f"got {response.status_code} {response.text[:500]}"
        )


def push_image(
    base_url: str,
    repo: str,
    tag: str,
    image: Manifest | None = None,
    *,
    seed: str | None = None,
    platforms: Iterable[str] = ("linux/amd64",),
    oci: bool = True,
    auth: httpx.Auth | tuple[str, str] | None = None,
    verify: Any = None,
) -> str:
    """Push ``image`` (default: ``build(seed or "repo:tag", platforms, oci=oci)``) as repo:tag; return the digest.

    Use a new ``seed`` to move an existing tag to different content.
    """
    manifest = image if image is not None else build(seed or f"{repo}:{tag}", platforms, oci=oci)
    with Pusher(base_url, auth=auth, verify=verify) as pusher:
        return pusher.push_manifest(repo, tag, manifest)


def delete_manifest(
    base_url: str, repo: str, digest: str, *, auth: httpx.Auth | tuple[str, str] | None = None, verify: Any = None
) -> None:
    """DELETE /v2/<repo>/manifests/<digest> (202); every tag on that digest disappears."""
    with Pusher(base_url, auth=auth, verify=verify) as pusher:
        pusher.delete_manifest(repo, digest)


# The fixture set of docs/test-registry.md section 5 plus a few python tags for "did you mean".
# Each entry: (repo, tags sharing the content, image).
def fixture_set() -> list[tuple[str, tuple[str, ...], Manifest]]:
    slim = build("python:3.12-slim", ("linux/amd64", "linux/arm64/v8"))
    return [
        ("library/python", ("3.12-slim", "3.12-slim-bookworm"), slim),
        ("library/python", ("latest",), build("python:latest", ("linux/amd64", "linux/arm64/v8"))),
        ("library/python", ("3.11",), build("python:3.11", ("linux/amd64", "linux/arm/v7"), oci=False)),
        (
            "library/python",
            ("3.12", "3.12-alpine", "3.13-slim", "3.11-slim"),
            build("python:extra", ("linux/amd64", "linux/arm64/v8")),
        ),
        ("myorg/app", ("1.0.0",), build("app:1.0.0", ("linux/amd64",))),
        ("myorg/app", ("1.1.0", "latest"), build("app:1.1.0", ("linux/amd64",), oci=False)),
        ("myorg/private", ("1.0",), build("private:1.0", ("linux/amd64",))),
    ]


@dataclass(frozen=True)
class Pushed:
    """What the session push produced: keys are "repo:tag"."""

    digests: dict[str, str]
    children: dict[str, dict[str, str]]
    manifests: dict[str, Manifest]
    requests: int


def push_fixture_set(base_url: str) -> Pushed:
    digests: dict[str, str] = {}
    children: dict[str, dict[str, str]] = {}
    manifests: dict[str, Manifest] = {}
    with Pusher(base_url) as pusher:
        for repo, tags, image in fixture_set():
            for tag in tags:
                key = f"{repo}:{tag}"
                digests[key] = pusher.push_manifest(repo, tag, image)
                manifests[key] = image
                if image.is_index:
                    children[key] = image.child_digests()
        return Pushed(digests, children, manifests, pusher.requests)
