"""Review findings in the registry client, each a failing test before its fix (MockTransport)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import httpx
import pytest
from test_registry_client import PUBLIC_IP, Fake, one, resolve_with

from preflight.config import Config
from preflight.facts import Status
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Resolution, Settings
from preflight.registry.batch import run
from preflight.registry.transport import Limits


def _realm_answers(fake: Fake, response: httpx.Response) -> None:
    fake.bearer = "https://ghcr.io/token"
    fake.hooks.append(lambda r: response if r.url.path == "/token" else None)


def test_token_service_without_a_token_is_not_ok(tmp_path: Path) -> None:
    """A realm answering 200 with no usable token: its reply must not pass as the manifest."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, json={"nothing": "here"}))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "token service" in facts.detail


def test_token_service_404_is_not_repository_missing(tmp_path: Path) -> None:
    """A realm answering 404 says nothing about the repository."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(404, text="404 page not found"))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "token service" in facts.detail and "404" in facts.detail


class _Body(httpx.AsyncByteStream):
    """A streamed body, decoded only when the client reads it (as from a real server)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.data


@pytest.mark.parametrize(
    "headers,body",
    [
        ({"content-encoding": "gzip"}, b"not gzip"),  # httpx.DecodingError, which is no TransportError
        ({}, b"[" * 60000),  # nested past the recursion limit, well under the size caps
    ],
    ids=["undecodable", "deeply-nested"],
)
def test_broken_tags_list_is_a_registry_error(tmp_path: Path, headers: dict[str, str], body: bytes) -> None:
    """A tags list that cannot be read is a registry error, not an internal one."""
    fake = Fake()
    fake.image("o/app", "1")
    fake.hooks.append(
        lambda r: (
            httpx.Response(200, headers=headers, stream=_Body(body)) if r.url.path.endswith("/tags/list") else None
        )
    )
    facts = one(resolve_with(fake, ["ghcr.io/o/app:2"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "internal error" not in facts.detail


def test_deeply_nested_token_answer_is_a_token_service_error(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, content=b"[" * 60000))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "token service" in facts.detail


def test_daemon_json_cidr_lookup_that_never_answers_ends_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matching daemon.json ``insecure-registries`` CIDRs resolves the registry name; a resolver
    that never answers must not hold the registry step past its deadline."""
    release = threading.Event()
    real = socket.getaddrinfo

    def stalled(host: object, *args: object, **kwargs: object) -> object:
        if host == "registry.corp.example":
            release.wait(60)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"insecure-registries": ["10.0.0.0/8"]}))
    settings = Settings(
        Config(timeout=1.0, daemon_json=str(daemon)),
        {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")},
        use_cache=False,
    )
    outcome: list[Resolution] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            asyncio.run(
                run(
                    [Lookup(ImageRef.parse("registry.corp.example/app:1"))],
                    settings,
                    inner=lambda verify, proxy: httpx.MockTransport(Fake()),
                    limits=Limits(backoff=0.01),
                    resolver=lambda host: PUBLIC_IP,
                )
            )
        ),
        daemon=True,
    )
    try:
        worker.start()
        worker.join(20)
        assert outcome, "the registry step was still blocked in DNS long after its 1 s deadline"
        assert one(outcome[0]).status is Status.NOT_CHECKED
    finally:
        release.set()


def test_token_lifetime_too_large_for_a_float_is_not_an_internal_error(tmp_path: Path) -> None:
    """``expires_in`` is an integer of 400 digits (valid JSON): the token is used with a sane lifetime."""
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, content=b'{"token": "good", "expires_in": 1' + b"0" * 400 + b"}"))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.OK
