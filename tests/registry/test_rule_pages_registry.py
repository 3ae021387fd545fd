"""Registry rule pages (rules/PF2xx.md) run against real registries.

The offline harness (tests/test_rule_pages.py) checks every page's structure and runs the
examples of offline rules; this module runs the examples of registry rules. Each page states the
registry content its examples assume in a fenced ``registry`` block (YAML)::

    registry.example:             # a placeholder host used by the examples
      auth: token                 # none (default) | basic | token
      repositories:
        acme/app:
          "1.4": [linux/amd64]    # tag -> platforms (one platform: a manifest, several: an index)
      broken:                     # storage damaged after the push (images.py's build of "repo:tag")
        acme/app:1.4: layer-missing   # the first layer's data file deleted (PF213)
    down.example: unreachable     # connections refused
    flaky.example: error 503      # every request answered with this status
    engine:                       # a real local engine (tests/registry/dockerd.py) for the examples
      holds: [registry.example/acme/base:dev]   # images imported into it under these names
    # engine: down                # DOCKER_HOST names a socket where nothing listens

A page's ``yaml preflight-config`` block (``deep: true``) is the configuration of every example; the
harness adds the endpoints, its timeout and an empty daemon.json.

Images are pushed (deterministic content, seed ``repo:tag``) to the shared storage of the test
registries; each host is pointed at a registry with ``registries.<host>.endpoint``. An
example's info string may carry ``login=USER:PASSWORD``: a ``docker login`` for every registry,
written to a ``config.json`` in ``DOCKER_CONFIG`` (keyed by the endpoint's ``host:port``: an endpoint
override gets the credentials stored for its own host). Findings of the page's rule (and of rules named
in markers) must be exactly the marked lines; Good examples must not report the page's rule.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_rule_pages import INPUT_RULES, blocks, examples, expectations, page_paths

import preflight.rules.engine
import preflight.rules.registry  # noqa: F401  (register PF2xx, PF210-PF212 in rules.engine, before preflight.rules does)
from preflight.config import Config, RegistryConfig, load_config
from preflight.engine import get_rule
from preflight.model import Finding

from .images import build, push_image

PAGE_TIMEOUT = 10.0


def registry_pages() -> list[Path]:
    out = []
    for path in page_paths():
        rule = get_rule(path.stem)
        if rule is not None and rule.needs_registry:
            out.append(path)
    return out


def registry_spec(text: str) -> dict[str, Any]:
    found = [b for b in blocks(text) if b.words[:1] == ["registry"]]
    assert len(found) == 1, "a registry rule page needs exactly one ```registry block"
    spec = yaml.safe_load(found[0].text)
    assert isinstance(spec, dict) and spec, "the registry block must map hosts to their content"
    return spec


@pytest.fixture
def closed_port() -> Iterator[str]:
    """A loopback port that refuses connections: bound (so nobody else gets it), never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def endpoints_for_spec(registry, basic_registry, token_registry, token_server, make_proxy, closed_port):  # type: ignore[no-untyped-def]
    """``serve(spec) -> {host: endpoint URL}``: push the stated content and pick a registry per host."""

    def serve(spec: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for host, content in spec.items():
            if host == "engine":
                continue
            if content == "unreachable":
                out[host] = closed_port
                continue
            if isinstance(content, str) and content.startswith("error "):
                proxy = make_proxy(registry.hostport)
                proxy.fail_next(10_000, int(content.split()[1]))
                out[host] = proxy.url
                continue
            assert isinstance(content, dict), f"{host}: expected a mapping, 'unreachable' or 'error NNN'"
            pushed: dict[str, tuple[str, ...]] = {}
            for repo, tags in (content.get("repositories") or {}).items():
                for tag, platforms in tags.items():
                    push_image(registry.url, repo, str(tag), platforms=tuple(platforms))
                    pushed[f"{repo}:{tag}"] = tuple(platforms)
            for name, damage in (content.get("broken") or {}).items():
                break_storage(registry.root, name, pushed[name], damage)
            auth = content.get("auth", "none")
            out[host] = {"none": registry.url, "basic": basic_registry.url, "token": token_registry.url}[auth]
        return out

    return serve


def break_storage(root: Path, name: str, platforms: tuple[str, ...], damage: str) -> None:
    """Damage the pushed image ``name`` (repo:tag) in the registry's storage, as a page states it."""
    assert damage == "layer-missing", f"{name}: unknown damage {damage!r} (layer-missing)"
    image = build(name, platforms)
    layer = (image.children[0] if image.is_index else image).layers[0]
    hexdigest = layer.digest.split(":", 1)[1]
    (root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data").unlink(
        missing_ok=True
    )


def engine_environ(spec: dict[str, Any], request: pytest.FixtureRequest, tmp: Path) -> dict[str, str]:
    """DOCKER_HOST for the page's ``engine`` (the session's real engine, filled as stated), or nothing."""
    engine = spec.get("engine")
    if engine is None:
        return {}
    if engine == "down":
        return {"DOCKER_HOST": f"unix://{tmp}/no-engine.sock"}
    assert isinstance(engine, dict), "engine: expected 'down' or a mapping with holds: [names]"
    docker = request.getfixturevalue("docker_engine")
    for name in engine.get("holds") or ():
        docker.import_image(name)
    return {"DOCKER_HOST": docker.host}


def _environ(tmp: Path, login: str | None, hosts: list[str]) -> dict[str, str]:
    docker = tmp / "docker-config"
    docker.mkdir(parents=True, exist_ok=True)
    auths = {}
    if login is not None:
        encoded = base64.b64encode(login.encode()).decode()
        auths = {host: {"auth": encoded} for host in hosts}
    (docker / "config.json").write_text(json.dumps({"auths": auths}), encoding="utf-8")
    return {"HOME": str(tmp), "DOCKER_CONFIG": str(docker), "NO_PROXY": "127.0.0.1,localhost", "PATH": "/usr/bin:/bin"}


def run_registry_example(
    files: dict[str, str],
    endpoints: dict[str, str],
    login: str | None,
    tmp: Path,
    engine: dict[str, str] | None = None,
    config_text: str | None = None,
) -> tuple[Finding, ...]:
    from preflight import pipeline

    for name, content in files.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    config = Config()
    if config_text is not None:
        (tmp / "page-config.yaml").write_text(config_text, encoding="utf-8")
        config = load_config(tmp, tmp / "page-config.yaml")
    config = replace(
        config,
        registries={host: RegistryConfig(endpoint=url) for host, url in endpoints.items()},
        timeout=PAGE_TIMEOUT,
        daemon_json=str(tmp / "no-daemon.json"),
    )
    environ = {**_environ(tmp, login, [url.split("://", 1)[1] for url in endpoints.values()]), **(engine or {})}
    loaded = pipeline.load(["."], config, cwd=tmp, environ=environ)
    checked = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ, use_cache=False))
    return checked.report.findings


@pytest.mark.parametrize("path", registry_pages(), ids=lambda p: p.stem)
def test_registry_page_examples(path: Path, tmp_path: Path, endpoints_for_spec, request) -> None:  # type: ignore[no-untyped-def]
    rule_id = path.stem
    text = path.read_text(encoding="utf-8")
    spec = registry_spec(text)
    endpoints = endpoints_for_spec(spec)
    engine = engine_environ(spec, request, tmp_path)
    found, config_text = examples(text)
    assert any(e.section == "Bad" for e in found) and any(e.section == "Good" for e in found)
    logins = {b.line: (b.attrs("login") or [None])[0] for b in blocks(text)}
    failures: list[str] = []
    for n, example in enumerate(found):
        expected = expectations(example)
        marks_rule = any(r == rule_id for r, _, _ in expected)
        assert marks_rule == (example.section == "Bad"), f"{path.name} line {example.line}: markers vs section"
        checked = {rule_id, *INPUT_RULES, *(r for r, _, _ in expected)}
        findings = run_registry_example(
            example.files, endpoints, logins.get(example.line), tmp_path / f"ex{n}", engine, config_text
        )
        got = {(f.rule, f.location.path, f.location.line) for f in findings if f.rule in checked}
        if got != expected:
            detail = "\n".join(f"    {f.location.path}:{f.location.line} {f.rule} {f.message}" for f in findings)
            failures.append(
                f"{path.name} {example.section} example at page line {example.line}:\n"
                f"  missing: {sorted(expected - got)}\n  unexpected: {sorted(got - expected)}\n{detail}"
            )
    assert not failures, "\n".join(failures)


def test_every_registry_rule_has_an_executed_page() -> None:
    from preflight.engine import all_rules

    wanted = {r.id for r in all_rules() if r.needs_registry}
    assert wanted and wanted == {p.stem for p in registry_pages()}


def test_registry_spec_is_required() -> None:
    with pytest.raises(AssertionError, match="exactly one"):
        registry_spec("## Why\n\ntext\n")
