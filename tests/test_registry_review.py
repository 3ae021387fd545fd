"""Review findings in the registry client, each a failing test before its fix (MockTransport)."""

from __future__ import annotations

from pathlib import Path

import httpx

from preflight.facts import Status
from test_registry_client import Fake, one, resolve_with


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


def test_undecodable_body_is_a_registry_error(tmp_path: Path) -> None:
    """``Content-Encoding: gzip`` over a body that is not gzip: a registry error, not an internal one."""
    fake = Fake()
    fake.image("o/app", "1")
    fake.hooks.append(lambda r: httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip")
                      if r.url.path.endswith("/tags/list") else None)
    facts = one(resolve_with(fake, ["ghcr.io/o/app:2"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "internal error" not in facts.detail



def test_deeply_nested_json_is_a_registry_error(tmp_path: Path) -> None:
    """JSON nested past Python's recursion limit (well under the size caps) is malformed, not a crash."""
    fake = Fake()
    fake.image("o/app", "1")
    fake.hooks.append(lambda r: httpx.Response(200, content=b"[" * 60000)
                      if r.url.path.endswith("/tags/list") else None)
    facts = one(resolve_with(fake, ["ghcr.io/o/app:2"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR
    assert "internal error" not in facts.detail


def test_deeply_nested_token_answer_is_a_token_service_error(tmp_path: Path) -> None:
    fake = Fake()
    fake.image("o/app", "1")
    _realm_answers(fake, httpx.Response(200, content=b"[" * 60000))
    facts = one(resolve_with(fake, ["ghcr.io/o/app:1"], tmp_path))
    assert facts.status is Status.REGISTRY_ERROR and "token service" in facts.detail
