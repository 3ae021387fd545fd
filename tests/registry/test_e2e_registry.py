"""End to end: ``python -m preflight check`` against real Distribution 2.8 registries.

Each test writes a Dockerfile and a ``.preflight.yaml`` into tmp, runs the CLI in a subprocess
with a clean environment (HOME, DOCKER_CONFIG and the cache inside tmp) and reads the JSON
report. Several references share one run where they do not interfere, to keep the suite fast.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from preflight.config import Config, RegistryConfig
from preflight.imageref import ImageRef
from preflight.registry import Lookup, Settings, resolve

from .images import push_image

ZERO_DIGEST = "sha256:" + "0" * 64


def run_check(
    tmp: Path,
    dockerfile: str,
    config: dict[str, Any] | None = None,
    *args: str,
    docker_config: dict[str, Any] | None = None,
    extra_path: Path | None = None,
    cache: bool = False,
    env_extra: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], str]:
    """Run the CLI on ``tmp/Dockerfile``; returns (exit code, JSON report, stderr)."""
    (tmp / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (tmp / ".preflight.yaml").write_text(json.dumps(config or {}), encoding="utf-8")
    docker = tmp / "docker"
    docker.mkdir(exist_ok=True)
    (docker / "config.json").write_text(json.dumps(docker_config or {}), encoding="utf-8")
    env = {
        "PATH": (f"{extra_path}:" if extra_path else "") + "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "DOCKER_CONFIG": str(docker),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        **(env_extra or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "preflight",
        "check",
        ".",
        "--format",
        "json",
        "--config",
        ".preflight.yaml",
        *(() if cache else ("--no-cache",)),
        *args,
    ]
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def by_line(report: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for f in report["findings"]:
        if f["rule"].startswith("PF2"):
            out.setdefault(f["line"], []).append((f["rule"], f["message"]))
    return out


def rules_at(report: dict[str, Any], line: int) -> list[str]:
    return [rule for rule, _ in by_line(report).get(line, [])]


def endpoint(host: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"registries": {host: {"endpoint": url, **extra}}}


# ----------------------------------------------------------------- existence


def test_typo_missing_repo_and_digests(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = registry.hostport
    slim = registry.digests["library/python:3.12-slim"]
    dockerfile = (
        "\n".join(
            [
                f"FROM {r}/library/python:3.12-slimm",  # 1 typo
                f"FROM {r}/library/pyhton:3.12",  # 2 missing repository
                f"FROM {r}/library/python:3.12-slim@{slim}",  # 3 pinned, matches
                f"FROM {r}/library/python@{ZERO_DIGEST}",  # 4 digest absent
                f"FROM {r}/myorg/app:1.1.0",  # 5 fine (Docker schema2)
                f"FROM {r}/library/python:3.11",  # 6 fine (Docker manifest list)
            ]
        )
        + "\n"
    )
    code, report, _ = run_check(tmp_path, dockerfile, {"timeout": 10})
    assert code == 1
    lines = by_line(report)
    assert set(lines) == {1, 2, 4}, lines
    ((rule, message),) = lines[1]
    assert rule == "PF201" and 'did you mean "3.12-slim"?' in message
    first = next(f for f in report["findings"] if f["rule"] == "PF201")
    assert first["suggestions"][0] == f"{r}/library/python:3.12-slim"
    assert lines[2][0][0] == "PF202" and "library/pyhton" in lines[2][0][1]
    assert lines[4][0][0] == "PF205"
    assert report["summary"]["references_checked"] == 6 and report["summary"]["not_checked"] == 0


def test_docker_hub_names_through_an_endpoint_override(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dockerfile = "FROM python:3.12-slimm\nFROM docker.io/library/python:3.12-slim\nFROM myorg/app\n"
    code, report, _ = run_check(tmp_path, dockerfile, endpoint("docker.io", registry.url))
    assert rules_at(report, 1) == ["PF201"] and rules_at(report, 2) == [] and rules_at(report, 3) == []
    assert (
        'tag "3.12-slimm" not found in docker.io/library/python; did you mean "3.12-slim"?' in by_line(report)[1][0][1]
    )


def test_moved_tag_is_a_note_and_a_pinned_child_is_not(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old = push_image(registry.url, scratch_repo, "1", seed="old")
    push_image(registry.url, scratch_repo, "1", seed="new")  # the tag moves on
    child = registry.children["library/python:3.12-slim"]["linux/amd64"]
    r = registry.hostport
    dockerfile = f"FROM {r}/{scratch_repo}:1@{old}\nFROM {r}/library/python:3.12-slim@{child}\n"
    code, report, _ = run_check(tmp_path, dockerfile)
    assert code == 0  # a note does not fail the run
    assert rules_at(report, 1) == ["PF206"] and rules_at(report, 2) == []


def test_missing_platform(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = registry.hostport
    dockerfile = (
        f"FROM --platform=linux/arm/v7 {r}/library/python:3.11\n"
        f"FROM --platform=linux/aarch64 {r}/library/python:3.12-slim\n"
        f"FROM {r}/myorg/app:1.0.0\n"
        f"FROM --platform=$BUILDPLATFORM {r}/myorg/app:1.0.0 AS tools\n"
        f"FROM --platform=linux/ppc64le {r}/library/python:3.12-slim\n"
        f"COPY --from={r}/myorg/app:1.1.0 /a /b\n"
    )
    code, report, _ = run_check(tmp_path, dockerfile, None, "--platform", "linux/amd64")
    assert by_line(report) == {5: [("PF207", by_line(report)[5][0][1])]}
    code, report, _ = run_check(tmp_path, dockerfile, None, "--platform", "linux/s390x")
    # A FROM that names its own platform (literal or $BUILDPLATFORM) is checked for that platform
    # only: BuildKit pulls it for that platform whatever the target.
    assert {line: rules_at(report, line) for line in range(1, 7)} == {
        1: [],
        2: [],
        3: ["PF207"],
        4: [],
        5: ["PF207"],
        6: ["PF207"],
    }
    assert "linux/s390x" in by_line(report)[3][0][1] and "provides linux/amd64" in by_line(report)[3][0][1]
    assert "linux/ppc64le" in by_line(report)[5][0][1]


# ----------------------------------------------------------------- credentials


def test_private_repository_with_token_auth(token_registry, token_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = token_registry.hostport
    dockerfile = f"FROM {r}/myorg/private:1.0\nFROM {r}/library/python:3.12-slim\n"
    code, report, _ = run_check(tmp_path, dockerfile)
    assert rules_at(report, 1) == ["PF203"] and rules_at(report, 2) == []
    assert "does not exist, or it is private" in by_line(report)[1][0][1]
    assert token_server.requests and {t.user for t in token_server.requests} == {None}  # anonymous tokens only

    token_server.reset()
    alice = {"auths": {r: {"auth": "YWxpY2U6czNjcmV0"}}}  # alice:s3cret
    code, report, _ = run_check(tmp_path, dockerfile, docker_config=alice)
    assert by_line(report) == {}
    assert {t.user for t in token_server.requests} == {"alice"}


def test_credential_helper_on_path(token_registry, token_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = token_registry.hostport
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-pftest"
    helper.write_text(
        '#!/bin/sh\nread key\nprintf \'{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}\' "$key"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    code, report, stderr = run_check(
        tmp_path, f"FROM {r}/myorg/private:1.0\n", docker_config={"credHelpers": {r: "pftest"}}, extra_path=bin_dir
    )
    assert by_line(report) == {}, stderr
    assert "s3cret" not in stderr and "s3cret" not in json.dumps(report)


def test_basic_auth_without_wrong_and_right_password(basic_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = basic_registry.hostport
    dockerfile = f"FROM {r}/myorg/private:1.0\n"
    _, report, _ = run_check(tmp_path, dockerfile)
    assert rules_at(report, 1) == ["PF203"]
    wrong = {"auths": {r: {"auth": "YWxpY2U6d3Jvbmc="}}}  # alice:wrong
    _, report, stderr = run_check(tmp_path, dockerfile, docker_config=wrong)
    assert rules_at(report, 1) == ["PF204"]
    message = by_line(report)[1][0][1]
    assert "config.json" in message and "wrong" not in message and "wrong" not in stderr
    right = {"auths": {r: {"auth": "YWxpY2U6czNjcmV0"}}}
    _, report, _ = run_check(tmp_path, dockerfile, docker_config=right)
    assert by_line(report) == {}


# ----------------------------------------------------------------- reachability and TLS


def test_closed_port_is_one_finding_per_host(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        dockerfile = f"FROM 127.0.0.1:{port}/a:1\nFROM 127.0.0.1:{port}/b:2\nFROM 127.0.0.1:{port}/c:3\n"
        code, report, _ = run_check(tmp_path, dockerfile)
    assert code == 1
    findings = [f for f in report["findings"] if f["rule"].startswith("PF2")]
    assert [(f["rule"], f["line"]) for f in findings] == [("PF208", 1)]
    assert "refused" in findings[0]["message"] and "(3 references not checked)" in findings[0]["message"]
    assert report["summary"]["requests"] <= 3


def test_tls_without_and_with_the_ca(tls_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = tls_registry.hostport
    dockerfile = f"FROM {r}/library/python:3.12-slim\n"
    _, report, _ = run_check(tmp_path, dockerfile, None, "--strict-loopback")
    assert rules_at(report, 1) == ["PF208"]
    assert "not trusted" in by_line(report)[1][0][1]
    _, report, _ = run_check(tmp_path, dockerfile)  # loopback means plain HTTP unless strict
    assert rules_at(report, 1) == ["PF208"] and "probably serves HTTPS" in by_line(report)[1][0][1]
    config = {"registries": {r: {"ca-file": str(tls_registry.ca_path)}}}
    _, report, _ = run_check(tmp_path, dockerfile, config, "--strict-loopback")
    assert by_line(report) == {}


def test_proxy_failure_is_named_and_no_proxy_cidrs_bypass_it(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import socket

    dockerfile = f"FROM {registry.hostport}/library/python:3.12-slim\n"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        _, report, _ = run_check(tmp_path, dockerfile, env_extra={"HTTP_PROXY": dead, "NO_PROXY": ""})
        assert rules_at(report, 1) == ["PF208"]
        message = by_line(report)[1][0][1]
        assert "proxy" in message and "NO_PROXY" in message
        # httpx ignores CIDRs in NO_PROXY; preflight honours them
        _, report, _ = run_check(tmp_path, dockerfile, env_extra={"HTTP_PROXY": dead, "NO_PROXY": "127.0.0.0/8"})
        assert by_line(report) == {}


def test_docker_io_mirror_answers(registry, proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = {"registries": {"docker.io": {"mirrors": [proxy.url]}}}
    _, report, stderr = run_check(tmp_path, "FROM python:3.12-slim\nFROM myorg/app:1.0.0\n", config)
    assert by_line(report) == {}, stderr
    assert proxy.requests >= 2 and all("/v2/" in line for line in proxy.request_lines)


# ----------------------------------------------------------------- faults


def _three(proxy) -> str:  # type: ignore[no-untyped-def]
    p = proxy.hostport
    return f"FROM {p}/library/python:3.12-slim\nFROM {p}/myorg/app:1.0.0\nFROM {p}/library/python:3.11\n"


@pytest.mark.parametrize("fault", ["latency", "reset", "503", "500", "429", "stall", "close_mid_body"])
def test_transient_faults_are_retried(proxy, fault: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if fault == "latency":
        proxy.latency = 0.05
    elif fault == "reset":
        proxy.reset_next(2)
    elif fault in ("503", "500"):
        proxy.fail_next(2, int(fault))
    elif fault == "429":
        proxy.fail_next(1, 429, {"Retry-After": "1"})
    elif fault == "stall":
        proxy.stall_next(1)
    else:
        proxy.close_mid_body_next(1)
    started = time.monotonic()
    timeout = 4 if fault == "stall" else 8  # a stalled request costs one read timeout (60 % of what is left)
    _, report, stderr = run_check(tmp_path, _three(proxy), {"timeout": timeout}, "--platform", "linux/amd64")
    assert by_line(report) == {}, stderr
    assert report["summary"]["not_checked"] == 0
    assert time.monotonic() - started < timeout + 5


def test_persistent_errors_and_deadline_still_answer_every_reference(
    registry,
    proxy,
    make_proxy,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    proxy.fail_next(1000, 500)
    _, report, _ = run_check(tmp_path, _three(proxy), {"timeout": 5})
    errors = [f for f in report["findings"] if f["rule"].startswith("PF2")]
    assert [(f["rule"], f["line"]) for f in errors] == [("PF209", 1)]
    assert "(3 references not checked)" in errors[0]["message"] and "HTTP 500" in errors[0]["message"]

    stalling = make_proxy(registry.hostport)
    stalling.stall_next(1000)
    started = time.monotonic()
    code, report, _ = run_check(tmp_path, _three(stalling), {"timeout": 2})
    assert time.monotonic() - started < 2 + 5
    statuses = {f["rule"] for f in report["findings"] if f["rule"].startswith("PF2")}
    assert statuses and statuses <= {"PF208", "PF209"} and code == 1  # never a silent pass


def test_second_run_is_answered_from_the_cache(proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = proxy.hostport
    dockerfile = _three(proxy) + f"FROM {p}/library/python:3.12-slimm\n"
    _, first, _ = run_check(tmp_path, dockerfile, None, "--platform", "linux/amd64", cache=True)
    sent = proxy.requests
    assert sent > 0 and first["summary"]["requests"] > 0
    _, second, _ = run_check(tmp_path, dockerfile, None, "--platform", "linux/amd64", cache=True)
    assert proxy.requests == sent and second["summary"]["requests"] == 0
    assert second["summary"]["cache_hits"] == 4
    # the same findings, each saying that its answer is cached, how old it is and how to re-check
    assert by_line(first) and by_line(first).keys() == by_line(second).keys()
    for line, findings in by_line(second).items():
        for (rule, message), (rule_before, message_before) in zip(findings, by_line(first)[line], strict=True):
            assert rule == rule_before and message.startswith(message_before)
            assert re.search(r"\(cached answer from \d+ s ago; --no-cache asks the registry again\)$", message)
    _, third, _ = run_check(tmp_path, dockerfile, None, "--platform", "linux/amd64")  # --no-cache
    assert proxy.requests > sent and by_line(third) == by_line(first)


def test_a_run_the_cache_answers_whole_loads_no_network_code(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A warm rerun (pre-commit, CI) plans, finds every answer in the cache and never imports httpx,
    httpcore or asyncio: their import is most of a warm run's cost. A miss loads them again."""
    r = registry.hostport
    dockerfile = f"FROM {r}/library/python:3.12\nFROM {r}/library/python:3.12-slimm\n"
    run_check(tmp_path, dockerfile, None, cache=True)
    probe = (
        "import sys\n"
        "from preflight.cli import main\n"
        "try:\n    main(['check', '.', '--format', 'json', '--config', '.preflight.yaml'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'httpcore', 'h11', 'asyncio'}))\n"
    )
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }

    def modules() -> tuple[dict[str, Any], list[str]]:
        done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
        *report, loaded = done.stdout.strip().splitlines()
        return json.loads("\n".join(report)), json.loads(loaded.replace("'", '"'))

    warm, loaded = modules()
    assert warm["summary"]["cache_hits"] == 2 and warm["summary"]["requests"] == 0
    assert rules_at(warm, 2) == ["PF201"] and loaded == []
    (tmp_path / "Dockerfile").write_text(dockerfile + f"FROM {r}/library/python:3.11\n", encoding="utf-8")
    cold, loaded = modules()
    assert cold["summary"]["requests"] > 0 and loaded == ["asyncio", "h11", "httpcore", "httpx"]


# ----------------------------------------------------------------- in-process: progress


def test_progress_reports_every_finished_lookup(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int, str]] = []
    config = Config(
        registries={"registry.example": RegistryConfig(endpoint=registry.url)},
        timeout=10,
        daemon_json=str(tmp_path / "none.json"),
    )
    refs = [
        "registry.example/library/python:3.12-slim",
        "registry.example/myorg/app:1.0.0",
        "registry.example/library/python:nope",
    ]
    settings = Settings(
        config,
        {"HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"},
        use_cache=False,
        progress=lambda done, total, host: calls.append((done, total, host)),
    )
    res = resolve([Lookup(ImageRef.parse(x)) for x in refs], settings)
    assert calls[-1][:2] == (3, 3) and all(total == 3 for _, total, _ in calls)
    assert calls[0][2] == registry.hostport
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert res.requests >= 3 and len(res.facts) == 3


# ----------------------------------------------------------------- in-process: the HTTP shim


def _resolve(
    url: str,
    refs: list[str],
    tmp_path: Path,
    *,
    platforms: frozenset[str] = frozenset(),
    docker_config: dict[str, Any] | None = None,
):  # type: ignore[no-untyped-def]
    docker = tmp_path / "docker"
    docker.mkdir(exist_ok=True)
    (docker / "config.json").write_text(json.dumps(docker_config or {}))
    config = Config(
        registries={"registry.example": RegistryConfig(endpoint=url)},
        timeout=10,
        daemon_json=str(tmp_path / "none.json"),
    )
    settings = Settings(
        config, {"HOME": str(tmp_path), "DOCKER_CONFIG": str(docker), "NO_PROXY": "127.0.0.1"}, use_cache=False
    )
    return resolve([Lookup(ImageRef.parse(f"registry.example/{r}"), platforms) for r in refs], settings)


def test_blob_redirect_to_another_origin_carries_no_credentials(
    basic_registry,
    make_shim,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    shim = make_shim(basic_registry.hostport)
    shim.redirect_pattern = r"/blobs/"
    alice = {"auths": {shim.hostport: {"auth": "YWxpY2U6czNjcmV0"}}}
    res = _resolve(shim.url, ["myorg/app:1.0.0"], tmp_path, platforms=frozenset({"linux/amd64"}), docker_config=alice)
    facts = next(iter(res.facts.values()))
    assert facts.status.value == "ok" and facts.platforms == ("linux/amd64",)
    assert shim.redirected and all(r.authorization is None for r in shim.redirected)
    assert any((r.authorization or "").startswith("Basic ") for r in shim.requests)


def test_shim_rate_limit_headers_wrong_digest_and_truncated_manifest(registry, make_shim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shim = make_shim(registry.hostport)
    shim.rate_limit(limit=100, remaining=42)
    shim.wrong_digest = True
    res = _resolve(shim.url, ["library/python:3.12-slim"], tmp_path, platforms=frozenset({"linux/amd64"}))
    facts = next(iter(res.facts.values()))
    assert res.dockerhub_remaining == 42 and facts.ratelimit_remaining == 42
    assert facts.digest == registry.digests["library/python:3.12-slim"]  # the body's sha256, not the header
    assert any("Docker-Content-Digest" in w for w in res.warnings)

    shim.wrong_digest = False
    shim.truncate_manifests = True
    res = _resolve(shim.url, ["library/python:3.12-slim"], tmp_path, platforms=frozenset({"linux/amd64"}))
    facts = next(iter(res.facts.values()))
    assert facts.status.value == "registry_error" and "JSON" in facts.detail


def test_shim_paginates_tags(registry, make_shim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shim = make_shim(registry.hostport)
    shim.page_size = 2
    res = _resolve(shim.url, ["library/python:3.12-slimm"], tmp_path)
    facts = next(iter(res.facts.values()))
    assert facts.suggestions[0] == "3.12-slim"
    pages = [r for r in shim.requests if "/tags/list" in r.path]
    assert len(pages) >= 4  # 8 tags, 2 per page (after n=1000 was capped to 2)
