"""The lookup: what preflight asks one registry endpoint about one reference, as ``ImageFacts``.

* existence: ``HEAD /v2/<name>/manifests/<tag|digest>`` with all four manifest types in
  ``Accept``; no ``Docker-Content-Digest`` → GET and sha256 of the raw body; a pinned digest
  whose HEAD names another digest → GET, and the body must hash to the pinned digest (with the
  pinned digest's own algorithm: sha256, sha384 or sha512);
* a HEAD 404 is confirmed with ``tags/list`` (404 → repository missing, 200 → tag missing
  plus near matches); ``_catalog`` feeds repository suggestions where a registry allows it;
* the index (GET) only when platforms are asked for, and the config blob for
  single-platform images; nested indexes are walked up to ``MAX_INDEX_DEPTH`` levels and
  ``MAX_NESTED_INDEXES`` fetches; ``tag@digest`` compares HEAD digest and HEAD tag, and GETs
  the tag's index only when they differ (a pinned platform manifest inside it is no mismatch).

Requests go through ``fetch.Repo`` (HTTP mechanics); answers that end a lookup are classified by
``outcome.classify``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ..facts import ImageFacts, Status
from ..imageref import ImageRef, is_digest
from ..suggest import near_matches
from .credentials import Credential
from .endpoints import Endpoint
from .fetch import Reply, Repo, Run
from .manifest import (
    INDEX_TYPES,
    SCHEMA1,
    as_json,
    child_digests,
    digest_of,
    index_entries,
    is_attestation,
    is_index,
    matches,
    platform_text,
    schema1_platforms,
)
from .network import DeadlineExceeded, Unreachable, is_docker_hub
from .outcome import Failure

MAX_INDEX_DEPTH = 8  # indexes inside indexes, below the top one
MAX_NESTED_INDEXES = 64  # nested indexes fetched for one reference (each a GET)
log = logging.getLogger("preflight.registry")


async def probe(
    run: Run, endpoint: Endpoint, ref: ImageRef, platforms: frozenset[str], credential: Credential | None
) -> ImageFacts:
    """Everything preflight asks about ``ref`` on one endpoint, as facts (never raises for HTTP)."""
    repo = Repo(run, endpoint, ref.path, credential)
    base = ImageFacts(ref.canonical, Status.OK, repo.host)
    try:
        facts = await _probe(repo, ref, platforms, base)
    except Failure as f:
        facts = replace(base, status=f.status, detail=f.detail, retry_after=f.retry_after)
    except Unreachable as u:
        d = u.diagnosis
        facts = replace(base, status=d.status, host=d.host, detail=d.message)
    except DeadlineExceeded:
        facts = replace(base, status=Status.NOT_CHECKED, detail="the deadline passed before an answer")
    notes = tuple(dict.fromkeys((*facts.notes, *repo.notes)))
    return replace(
        facts,
        notes=notes,
        ratelimit_remaining=repo.ratelimit,
        credential_source=credential.source if (credential and repo.sent_credentials) else None,
    )


async def _probe(repo: Repo, ref: ImageRef, platforms: frozenset[str], base: ImageFacts) -> ImageFacts:
    """The facts of an answered lookup, built up from ``base`` by each step (``replace``)."""
    reference = ref.digest or ref.effective_tag or "latest"
    # Existence is a HEAD (free on Docker Hub). When platforms are asked for, the manifest is needed
    # anyway: one GET answers both questions and saves a round trip.
    first = await (repo.get_manifest(reference) if platforms else repo.head_manifest(reference))
    if first.status == 404:
        return await _missing(repo, ref, reference, base)
    _require_ok(repo, first)
    found = replace(base, media_type=first.media_type or None, digest=ref.digest or first.digest)
    if ref.digest is not None and ref.tag is not None:
        found = await _compare_tag(repo, ref, found)
    if platforms:
        found = await _read_manifest(
            repo, reference, found, verify=ref.digest, header_digest=first.digest, body=first.body
        )
    elif found.digest is None:  # an old registry without Docker-Content-Digest: hash the body
        found = await _read_manifest(repo, reference, found, verify=None, want=False)
    elif ref.digest is not None and first.digest not in (None, ref.digest):
        # The registry names other content for a pinned digest: the body decides, as it does for a pull.
        found = await _read_manifest(repo, reference, found, verify=ref.digest, header_digest=first.digest, want=False)
    if found.media_type in SCHEMA1:
        found = _noted(found, f"{ref.familiar} is a deprecated schema1 image; current Docker versions refuse it")
    return found


def _noted(facts: ImageFacts, *notes: str) -> ImageFacts:
    return replace(facts, notes=(*facts.notes, *notes))


async def _missing(repo: Repo, ref: ImageRef, reference: str, base: ImageFacts) -> ImageFacts:
    """A 404 for the manifest: the tag listing says whether the tag, the digest or the repository is missing."""
    tags = await repo.list_tags()
    if tags is None:
        suggestions: tuple[str, ...] = ()
        if not is_docker_hub(repo.host):
            suggestions = near_matches(ref.path, await repo.catalog())
        return replace(
            base,
            status=Status.REPO_MISSING,
            detail=f"repository {ref.familiar_name} not found",
            suggestions=suggestions,
        )
    if ref.digest is not None:
        return replace(
            base, status=Status.DIGEST_MISSING, detail=f"digest {ref.digest} not found in {ref.familiar_name}"
        )
    return replace(
        base,
        status=Status.TAG_MISSING,
        detail=f"tag {reference!r} not found in {ref.familiar_name}",
        suggestions=near_matches(reference, tags),
    )


def _require_ok(repo: Repo, head: Reply) -> None:
    if head.status != 200:
        raise repo.failure(head)
    if head.media_type.startswith("text/html"):
        raise Failure(
            Status.REGISTRY_ERROR,
            f"{repo.host} answered with an HTML page, not the registry API (a login portal or a proxy?)",
        )


def _algorithm(digest: str) -> str:
    return digest.split(":", 1)[0]


async def _compare_tag(repo: Repo, ref: ImageRef, found: ImageFacts) -> ImageFacts:
    assert ref.tag is not None and ref.digest is not None
    head = await repo.head_manifest(ref.tag)
    if head.status == 404:
        return _noted(found, f"tag {ref.tag!r} no longer exists in {ref.familiar_name}; the pinned digest does")
    if head.status != 200:
        return found  # the digest answered; a tag problem here is only informational
    tag_digest = head.digest
    if tag_digest is None or _algorithm(tag_digest) != _algorithm(ref.digest):
        # no digest header, or one in another algorithm than the pin's: hash the tag's manifest like the pin
        tag_digest = digest_of(await repo.manifest(ref.tag, None), _algorithm(ref.digest))
    found = replace(found, tag_digest=tag_digest)
    if tag_digest != ref.digest and head.media_type in INDEX_TYPES:
        index = _json(repo, await repo.manifest(tag_digest, tag_digest))
        found = replace(found, tag_children=child_digests(index))
    return found


def _json(repo: Repo, body: bytes) -> dict[str, Any]:
    data = as_json(body)
    if not isinstance(data, dict):
        raise Failure(Status.REGISTRY_ERROR, f"{repo.host} sent a manifest that is not a JSON object")
    return data


KEPT_MANIFEST = 256 * 1024  # manifest bodies kept for --deep (an index of 100 platforms is ~50 KB)


async def _read_manifest(
    repo: Repo,
    reference: str,
    found: ImageFacts,
    *,
    verify: str | None,
    header_digest: str | None = None,
    want: bool = True,
    body: bytes | None = None,
) -> ImageFacts:
    """``found`` with what the manifest at ``reference`` says (GET unless ``body`` is given): digest, media
    type, children, platforms, notes."""
    if body is None:
        body = await repo.manifest(reference, verify)
    elif verify is not None:
        repo.check_digest(body, verify, "a manifest")
    header_ok = header_digest is not None and matches(body, header_digest)
    if header_digest is not None and not header_ok:
        found = _noted(
            found,
            f"{repo.host} sent a Docker-Content-Digest header that does not match "
            "the manifest; preflight used the manifest's own sha256",
        )
    if verify is None:
        found = replace(found, digest=header_digest if header_ok else digest_of(body))
    if found.digest is not None and len(body) <= KEPT_MANIFEST:
        repo.run.manifests[found.digest] = body
    data = _json(repo, body)
    media = found.media_type or data.get("mediaType")
    if not isinstance(media, str):
        media = ""
    found = replace(found, media_type=media or None)
    if not want:
        return found
    if is_index(media, data):
        walk = _IndexWalk(repo)
        await walk.walk(data, depth=0)
        found = replace(found, children=tuple(walk.children), platforms=tuple(dict.fromkeys(walk.platforms)))
        return _noted(found, *walk.notes)
    if media in SCHEMA1:
        return replace(found, platforms=schema1_platforms(data))
    return replace(found, platforms=await _config_platform(repo, data))


class _IndexWalk:
    """Platform manifests of an index and of the indexes nested in it, within the bounds."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.platforms: list[str] = []
        self.children: list[str] = []
        self.notes: list[str] = []
        self.fetched: set[str] = set()

    async def walk(self, data: dict[str, Any], depth: int) -> None:
        for entry in index_entries(data):
            digest = entry.get("digest")
            if not is_digest(digest) or is_attestation(entry):
                continue
            if entry.get("mediaType") in INDEX_TYPES:
                await self._nested(digest, depth + 1)
                continue
            platform = entry.get("platform")
            text = platform_text(platform) if isinstance(platform, dict) else None
            if text is not None:
                self.children.append(digest)
                self.platforms.append(text)

    async def _nested(self, digest: str, depth: int) -> None:
        if digest in self.fetched:
            return  # the same index twice: its platforms are already counted
        if depth > MAX_INDEX_DEPTH or len(self.fetched) >= MAX_NESTED_INDEXES:
            note = (
                f"{self.repo.host}: indexes nested more than {MAX_INDEX_DEPTH} levels deep or more than "
                f"{MAX_NESTED_INDEXES} nested indexes; the platforms below them were not read"
            )
            if note not in self.notes:
                self.notes.append(note)
            return
        self.fetched.add(digest)
        nested = _json(self.repo, await self.repo.manifest(digest, digest))
        await self.walk(nested, depth)


async def _config_platform(repo: Repo, manifest: dict[str, Any]) -> tuple[str, ...]:
    config = manifest.get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if not is_digest(digest):
        raise Failure(Status.REGISTRY_ERROR, f"{repo.host} sent an image manifest without a valid config digest")
    data = as_json(await repo.blob(digest))
    text = platform_text(data) if isinstance(data, dict) else None
    return (text,) if text else ()


async def probe_with_fallback(
    run: Run,
    endpoint: Endpoint,
    ref: ImageRef,
    platforms: frozenset[str],
    credential: Credential | None,
) -> ImageFacts:
    """Probe; when stored credentials are rejected, try once anonymously (public images still pass)."""
    facts = await probe(run, endpoint, ref, platforms, credential)
    if credential is None or facts.status is not Status.AUTH_FAILED:
        return facts
    log.debug("%s: the credentials from %s were rejected; checking anonymously", ref.canonical, credential.source)
    anonymous = await probe(run, endpoint, ref, platforms, None)
    if (
        anonymous.status in (Status.AUTH_REQUIRED, Status.AUTH_FAILED, Status.REPO_MISSING_OR_PRIVATE)
        or anonymous.status.unreachable
    ):
        return facts
    note = (
        f"stored credentials for {endpoint.credential_domain} (from {credential.source}) were rejected; "
        f"the image is public and was checked anonymously"
    )
    return replace(anonymous, notes=(*anonymous.notes, note))
