"""Facts cache: TTLs, negative TTL, transient statuses never stored, file safety, no secrets on disk."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from preflight.facts import Damage, ImageFacts, PlatformImage, Status
from preflight.registry.cache import CACHE_FILE, NEGATIVE_STATUSES, FactsCache, cache_key, default_cache_dir
from preflight.registry.credentials import Credential


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def full_facts(status: Status = Status.OK) -> ImageFacts:
    """Every field set to a non-default value, so a round trip proves each one."""
    return ImageFacts(
        reference="docker.io/library/python:3.12-slim",
        status=status,
        host="registry-1.docker.io",
        detail="tag found",
        suggestions=("3.12-slim-bookworm", "3.12"),
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.index.v1+json",
        tag_digest="sha256:" + "b" * 64,
        children=("sha256:" + "c" * 64,),
        platforms=("linux/amd64", "linux/arm64/v8"),
        notes=("answered by mirror https://mirror.example",),
        ratelimit_remaining=97,
        retry_after=1.5,
        credential_source="~/.docker/config.json (auths)",
        deep=(
            PlatformImage(
                "linux/amd64", "sha256:" + "d" * 64, ("sha256:" + "e" * 64,), (1234,), ("sha256:" + "f" * 64,)
            ),
        ),
    )


def got(cache: FactsCache, key: str) -> ImageFacts | None:
    """The cached facts without their ``cached_age`` (which says how old the answer is)."""
    facts = cache.get(key)
    return None if facts is None else dataclasses.replace(facts, cached_age=None)


def make(tmp_path: Path, clock: Clock, ttl: float = 3600, negative_ttl: float = 300) -> FactsCache:
    return FactsCache(tmp_path / "cache", ttl, negative_ttl, now=clock)


def test_round_trip_through_the_file_keeps_every_field(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    facts = full_facts()
    cache.put("k", facts)
    cache.save()
    again = make(tmp_path, clock)
    assert got(again, "k") == facts
    assert again.hits == 1
    assert make(tmp_path, clock).get("other") is None


def test_none_platforms_and_defaults_round_trip(tmp_path: Path) -> None:
    clock = Clock()
    facts = ImageFacts("ghcr.io/o/r:1", Status.OK, "ghcr.io")
    cache = make(tmp_path, clock)
    cache.put("k", facts)
    cache.save()
    assert got(make(tmp_path, clock), "k") == facts


def test_positive_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock, ttl=100)
    cache.put("k", full_facts())
    clock.now += 99
    assert cache.get("k") is not None
    cache.save()
    assert make(tmp_path, clock).get("k") is not None
    clock.now += 1
    assert cache.get("k") is None
    assert make(tmp_path, clock).get("k") is None
    assert cache.hits == 1


@pytest.mark.parametrize("status", sorted(NEGATIVE_STATUSES, key=lambda s: s.value))
def test_negative_ttl(tmp_path: Path, status: Status) -> None:
    clock = Clock()
    cache = make(tmp_path, clock, ttl=3600, negative_ttl=60)
    cache.put("k", full_facts(status))
    clock.now += 59
    assert cache.get("k") is not None and cache.get("k").status is status
    clock.now += 1
    assert cache.get("k") is None


TRANSIENT = [s for s in Status if s is not Status.OK and s not in NEGATIVE_STATUSES]


def test_transient_statuses_cover_what_the_brief_names() -> None:
    names = {s.value for s in TRANSIENT}
    assert {
        "network_dns",
        "network_refused",
        "network_timeout",
        "tls",
        "proxy",
        "rate_limited",
        "registry_error",
        "not_checked",
        "auth_required",
        "auth_failed",
        "blocked_by_policy",
    } <= names


@pytest.mark.parametrize("status", TRANSIENT, ids=lambda s: s.value)
def test_transient_statuses_are_never_cached(tmp_path: Path, status: Status) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    cache.put("k", full_facts(status))
    assert cache.get("k") is None
    cache.save()
    assert not (tmp_path / "cache" / CACHE_FILE).exists()


def test_transient_answer_does_not_evict_a_good_one(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    cache.put("k", full_facts())
    cache.put("k", full_facts(Status.NETWORK_TIMEOUT))
    assert got(cache, "k") == full_facts()


def test_file_and_directory_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        cache = make(tmp_path, Clock())
        cache.put("k", full_facts())
        cache.save()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache" / CACHE_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [CACHE_FILE]  # no temp files left


def test_existing_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir(mode=0o755)
    cache = make(tmp_path, Clock())
    cache.put("k", full_facts())
    cache.save()
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe garbage",
        b"[]",
        b'{"version": 99, "entries": {}}',
        b'{"version": 2, "entries": []}',
        b'{"version": 1, "entries": {}}',
    ],
)
def test_corrupt_cache_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / CACHE_FILE).write_bytes(content)
    clock = Clock()
    cache = make(tmp_path, clock)
    assert cache.get("k") is None
    cache.put("k", full_facts())
    cache.save()
    assert got(make(tmp_path, clock), "k") == full_facts()


def test_bad_entries_are_dropped_good_ones_kept(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    cache.put("good", full_facts())
    cache.save()
    path = tmp_path / "cache" / CACHE_FILE
    data = json.loads(path.read_bytes())
    good = data["entries"]["good"]
    times = {"written": good["written"], "expires": good["expires"]}
    data["entries"]["bad-status"] = {**times, "facts": {**good["facts"], "status": "weird"}}
    data["entries"]["bad-type"] = {**times, "facts": {**good["facts"], "suggestions": "not-a-list"}}
    data["entries"]["extra-field"] = {**times, "facts": {**good["facts"], "password": "x"}}
    data["entries"]["no-expiry"] = {"written": good["written"], "facts": good["facts"]}
    data["entries"]["no-date"] = {"expires": good["expires"], "facts": good["facts"]}
    data["entries"]["future"] = {"written": clock.now + 10, "expires": good["expires"], "facts": good["facts"]}
    data["entries"]["stored-age"] = {**times, "facts": {**good["facts"], "cached_age": 0}}
    path.write_text(json.dumps(data))
    again = make(tmp_path, clock)
    assert got(again, "good") == full_facts()
    bad = ("bad-status", "bad-type", "extra-field", "no-expiry", "no-date", "future", "stored-age")
    assert [again.get(k) for k in bad] == [None] * len(bad)


def test_unreadable_cache_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "cache" / CACHE_FILE).mkdir(parents=True)  # a directory where the file should be
    cache = make(tmp_path, Clock())
    assert cache.get("k") is None
    cache.put("k", full_facts())
    cache.save()  # cannot replace a directory: reported, not raised
    assert cache.error is not None and str(tmp_path / "cache") in cache.error


def test_concurrent_runs_merge(tmp_path: Path) -> None:
    clock = Clock()
    first, second = make(tmp_path, clock), make(tmp_path, clock)
    first.put("a", full_facts())
    second.put("b", full_facts(Status.TAG_MISSING))
    first.save()
    second.save()
    merged = make(tmp_path, clock)
    assert got(merged, "a") == full_facts() and got(merged, "b") == full_facts(Status.TAG_MISSING)


def test_secret_never_reaches_the_cache_file(tmp_path: Path) -> None:
    secret = "PLANTED-s3cr3t-7f3a9c"
    cred = Credential("alice", secret, "basic", "~/.docker/config.json (auths)")
    facts = ImageFacts(
        "ghcr.io/acme/private:1.0",
        Status.OK,
        "ghcr.io",
        detail="tag found",
        digest="sha256:" + "d" * 64,
        credential_source=cred.source,
    )
    key = cache_key("ghcr.io/acme/private:1.0", ["https://ghcr.io"], ["linux/amd64"], cred.identity)
    cache = make(tmp_path, Clock())
    cache.put(key, facts)
    cache.save()
    raw = (tmp_path / "cache" / CACHE_FILE).read_bytes()
    assert b"~/.docker/config.json (auths)" in raw  # the facts really are in there
    assert secret.encode() not in raw
    assert base64.b64encode(f"alice:{secret}".encode()) not in raw


def test_cache_key_separates_users_endpoints_and_platforms() -> None:
    alice = Credential("alice", "pw1", "basic", "s").identity
    bob = Credential("bob", "pw2", "basic", "s").identity
    ref, ep = "ghcr.io/acme/private:1.0", ["https://ghcr.io"]
    keys = {
        cache_key(ref, ep, ["linux/amd64"], alice),
        cache_key(ref, ep, ["linux/amd64"], bob),
        cache_key(ref, ep, ["linux/amd64"], None),
        cache_key(ref, ["http://127.0.0.1:5000"], ["linux/amd64"], alice),
        cache_key(ref, ep, [], alice),
        cache_key(ref + "x", ep, ["linux/amd64"], alice),
    }
    assert len(keys) == 6
    assert cache_key(ref, ep, ["linux/arm64", "linux/amd64"], alice) == cache_key(
        ref, ep, ["linux/amd64", "linux/arm64"], alice
    )


def test_default_cache_dir(tmp_path: Path) -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}) == Path("/x/cache/preflight")
    assert default_cache_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/preflight")
    assert default_cache_dir({"XDG_CACHE_HOME": "relative", "HOME": "/home/u"}) == Path("/home/u/.cache/preflight")


# ----------------------------------------------------------------- whose answer, and for how long (issue 8.4)


def test_an_entry_lives_no_longer_than_the_reading_runs_own_lifetime(tmp_path: Path) -> None:
    """A run with a 2,000,000,000 s lifetime (a project's cache-ttl) cannot keep an answer alive for
    a run whose own lifetime is the default."""
    clock = Clock()
    writer = make(tmp_path, clock, ttl=2_000_000_000, negative_ttl=2_000_000_000)
    writer.put("ok", full_facts())
    writer.put("missing", full_facts(Status.TAG_MISSING))
    writer.save()
    clock.now += 299
    reader = make(tmp_path, clock, ttl=3600, negative_ttl=300)
    assert got(reader, "ok") == full_facts() and got(reader, "missing") == full_facts(Status.TAG_MISSING)
    clock.now += 1
    assert make(tmp_path, clock, ttl=3600, negative_ttl=300).get("missing") is None
    clock.now += 3300
    assert make(tmp_path, clock, ttl=3600, negative_ttl=300).get("ok") is None
    assert got(make(tmp_path, clock, ttl=2_000_000_000), "ok") == full_facts()  # the long-lived reader still may


def test_a_cached_answer_says_how_old_it_is(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    cache.put("k", full_facts())
    cache.save()
    clock.now += 125
    facts = make(tmp_path, clock).get("k")
    assert facts is not None and facts.cached_age == 125
    assert b"cached_age" not in (tmp_path / "cache" / CACHE_FILE).read_bytes()


def test_endpoint_identity_separates_every_level_of_tls_trust(tmp_path: Path) -> None:
    from preflight.registry.cache import endpoint_identity

    ca, other = tmp_path / "ca.pem", tmp_path / "other.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    other.write_text("-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n")
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    url = "https://registry.example.com"

    def ident(insecure: bool = False, ca_file: str | None = None, env: dict[str, str] | None = None) -> str:
        return endpoint_identity(url, insecure=insecure, ca_file=ca_file, environ=env or {})

    normal = ident()
    lowered = {
        ident(insecure=True),
        ident(ca_file=str(ca)),
        ident(ca_file=str(other)),
        ident(ca_file=str(certs)),
        ident(env={"SSL_CERT_FILE": str(ca)}),
        endpoint_identity("http://registry.example.com", insecure=False, ca_file=None, environ={}),
    }
    assert normal not in lowered and len(lowered) == 6
    assert ident() == normal  # stable
    # mutual TLS: who asked is part of the answer's identity (the certificate's hash, never the key)
    client = tmp_path / "client.cert"
    client.write_text("-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n")
    key = tmp_path / "client.key"
    key.write_text("secret key material")
    with_client = endpoint_identity(url, insecure=False, ca_file=None, environ={}, client_cert=(str(client), str(key)))
    assert with_client != normal and "secret" not in with_client and str(key) not in with_client
    keys = {cache_key("r/x:1", [i], [], None) for i in lowered | {normal}}
    assert len(keys) == 7


def test_deep_facts_round_trip_and_a_damaged_image_is_never_stored(tmp_path: Path) -> None:
    clock = Clock()
    cache = make(tmp_path, clock)
    damaged = dataclasses.replace(
        full_facts(), damage=(Damage("linux/arm64", "layer", "missing", "sha256:" + "1" * 64, 9, 1, 2),)
    )
    cache.put("sound", full_facts())
    cache.put("damaged", damaged)
    cache.save()
    again = make(tmp_path, clock)
    assert got(again, "sound") == full_facts() and got(again, "damaged") is None


def test_content_by_digest_never_expires_and_merges(tmp_path: Path) -> None:
    clock = Clock()
    digest = "sha256:" + "a" * 64
    cache = make(tmp_path, clock)
    cache.put_content(digest, {"kind": "other"})
    cache.put_content("not-a-digest", {"kind": "other"})
    cache.save()
    clock.now += 10 * 365 * 86400
    other = make(tmp_path, clock)
    other.put_content("sha256:" + "b" * 64, {"kind": "index", "entries": []})
    other.save()
    assert make(tmp_path, clock).get_content(digest) == {"kind": "other"}
    assert make(tmp_path, clock).get_content("not-a-digest") is None
    assert make(tmp_path, clock).get_content("sha256:" + "b" * 64) == {"kind": "index", "entries": []}
