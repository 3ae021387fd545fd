"""Broken networks give a diagnosis, within the deadline, and the rest of the run is still checked.

Every case runs the real CLI (``python -m preflight check --format json --no-cache --timeout T``)
on one Dockerfile naming a broken registry (``faulty.test``: an endpoint override pointing at a
fault proxy, the HTTP shim, a dead port, a TLS registry without its CA...) and a healthy one
(``healthy.test``: the open registry) with a typo'd tag. For each case: the finding on the broken
side, PF201 with its suggestion on the healthy side, and a wall time below the timeout plus a
margin (a bound: a run that waits out a fault fails it; timings belong to bench/fault_matrix.py,
which imports ``CASES``, ``execute`` and ``check`` from here and prints the table).
"""

from __future__ import annotations

import re
import socket
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .fault_proxy import FaultProxy
from .servers import BasicRegistry, OpenRegistry, TLSRegistry, TokenRegistry
from .shim import Shim
from .test_e2e_registry import run_check
from .token_server import TokenServer

HEALTHY = "healthy.test/library/python:3.12-slimm"
MARGIN = 3.0  # interpreter start, the 1 s grace after the deadline, rendering


@dataclass
class Lab:
    """The servers a case may use (pytest fixtures in the tests, servers.py in the bench)."""

    registry: OpenRegistry
    basic_registry: BasicRegistry
    token_registry: TokenRegistry
    token_server: TokenServer
    tls_registry: TLSRegistry
    make_proxy: Callable[[str], FaultProxy]
    make_shim: Callable[[str], Shim]
    tmp: Path


@dataclass
class Plan:
    """What one case runs: references on the broken registry and how preflight reaches it."""

    refs: list[str]
    registries: dict[str, dict[str, Any]] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    docker_config: dict[str, Any] | None = None
    extra_path: Path | None = None
    after: Callable[[], None] = lambda: None  # assertions about what the servers saw
    keep: Any = None  # something that must stay alive during the run (a bound socket)


@dataclass(frozen=True)
class Case:
    name: str
    plan: Callable[[Lab], Plan]
    rule: str | None  # the finding on the first broken line; None: that reference is fine
    words: tuple[str, ...] = ()  # in its message (or, with rule None, on stderr)
    timeout: float = 10.0
    budget: float | None = None  # wall-time bound; default timeout + MARGIN


@dataclass
class Outcome:
    rule: str | None
    message: str
    seconds: float
    report: dict[str, Any]
    stderr: str
    code: int


def _over(endpoint: str, *refs: str, **extra: Any) -> Plan:
    """References on ``faulty.test``, which the configuration sends to ``endpoint``."""
    return Plan([f"faulty.test/{r}" for r in refs], {"faulty.test": {"endpoint": endpoint}}, **extra)


def _proxy(lab: Lab, configure: Callable[[FaultProxy], None], *refs: str, **extra: Any) -> Plan:
    proxy = lab.make_proxy(lab.registry.hostport)
    configure(proxy)
    return _over(proxy.url, *(refs or ("library/python:3.12-slim", "myorg/app:1.0.0")), **extra)


def _shim(lab: Lab, configure: Callable[[Shim], None], *refs: str, upstream: str | None = None, **extra: Any) -> Plan:
    shim = lab.make_shim(upstream or lab.registry.hostport)
    configure(shim)
    return _over(shim.url, *(refs or ("library/python:3.12-slim",)), **extra)


# ----------------------------------------------------------------- the cases


def refused(lab: Lab) -> Plan:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    return _over(f"http://127.0.0.1:{sock.getsockname()[1]}", "app:1", "app:2", keep=sock)


def dns(lab: Lab) -> Plan:
    return Plan(["nonexistent.invalid/app:1", "nonexistent.invalid/other:2"])


def tls(lab: Lab) -> Plan:
    return _over(lab.tls_registry.url, "library/python:3.12-slim", args=("--strict-loopback",))


def reset(lab: Lab) -> Plan:
    return _proxy(lab, lambda p: p.reset_next(1000))


def mid_body(lab: Lab) -> Plan:
    return _proxy(lab, lambda p: p.close_mid_body_next(1000), args=("--platform", "linux/amd64"))


def stall(lab: Lab) -> Plan:
    return _proxy(lab, lambda p: p.stall_next(1000))


def slow(lab: Lab) -> Plan:
    def configure(proxy: FaultProxy) -> None:
        proxy.latency = 1.5

    return _proxy(lab, configure, *(f"library/python:3.12-slimm{i}" for i in range(6)))


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[Lab], Plan]:
    def plan(lab: Lab) -> Plan:
        return _proxy(lab, lambda p: p.fail_next(1000, code, headers))

    return plan


def redirect_loop(lab: Lab) -> Plan:
    def configure(shim: Shim) -> None:
        shim.redirect_pattern, shim.redirect_loop = "/manifests/", True

    return _shim(lab, configure)


def redirect_elsewhere(lab: Lab) -> Plan:
    """Basic-auth registry behind the shim; blobs redirect to the sidecar (another origin)."""
    shim = lab.make_shim(lab.basic_registry.hostport)
    shim.redirect_pattern = "/blobs/"

    def after() -> None:
        assert any((r.authorization or "").startswith("Basic ") for r in shim.requests)
        assert shim.redirected, "the blob was not redirected"
        assert [r.authorization for r in shim.redirected] == [None] * len(shim.redirected)

    alice = {"auths": {shim.hostport: {"auth": "YWxpY2U6czNjcmV0"}}}  # alice:s3cret
    return _over(shim.url, "myorg/app:1.0.0", args=("--platform", "linux/amd64"), docker_config=alice, after=after)


def truncated(lab: Lab) -> Plan:
    return _shim(lab, lambda s: setattr(s, "truncate_manifests", True), args=("--platform", "linux/amd64"))


def invalid_json(lab: Lab) -> Plan:
    return _shim(
        lab,
        lambda s: setattr(s, "manifest_body", b'{"schemaVersion": 2, "manifests": [}'),
        args=("--platform", "linux/amd64"),
    )


def wrong_digest_header(lab: Lab) -> Plan:
    digest = lab.registry.digests["library/python:3.12-slim"]
    return _shim(lab, lambda s: setattr(s, "wrong_digest", True), f"library/python@{digest}")


def wrong_digest_body(lab: Lab) -> Plan:
    digest = lab.registry.digests["library/python:3.12-slim"]
    other = lab.registry.manifests["myorg/app:1.0.0"].data

    def configure(shim: Shim) -> None:
        shim.wrong_digest, shim.manifest_body = True, other

    return _shim(lab, configure, f"library/python@{digest}")


def insecure_fallback(lab: Lab) -> Plan:
    """Docker's insecure-registry rule: HTTPS first (the TLS handshake fails: the port speaks HTTP),
    then plain HTTP, which answers."""
    r = lab.registry.hostport
    return Plan(
        [f"{r}/library/python:3.12-slim", f"{r}/myorg/app:1.0.0"], {r: {"insecure": True}}, args=("--strict-loopback",)
    )


def token_down(lab: Lab) -> Plan:
    lab.token_server.down = True
    return _over(lab.token_registry.url, "library/python:3.12-slim", "myorg/app:1.0.0")


def helper_hangs(lab: Lab) -> Plan:
    proxy = lab.make_proxy(lab.registry.hostport)
    bin_dir = lab.tmp / "hang-bin"
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / "docker-credential-hang"
    helper.write_text("#!/bin/sh\nexec sleep 60\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    return _over(proxy.url, "library/python:3.12-slim", docker_config={"credsStore": "hang"}, extra_path=bin_dir)


CASES: tuple[Case, ...] = (
    Case("connection refused", refused, "PF208", ("refused", "2 references not checked")),
    Case("DNS failure", dns, "PF208", ("cannot resolve nonexistent.invalid", "2 references not checked")),
    Case("TLS: untrusted certificate", tls, "PF208", ("not trusted", "ca_file")),
    Case("connection reset", reset, "PF208", ("reset",)),
    Case("closed mid-body", mid_body, "PF209", ("closed the connection",)),
    Case("stalled response", stall, "PF209", ("2 references not checked", "deadline"), timeout=3),
    Case("slow registry (1.5 s a request)", slow, "PF209", ("6 references not checked", "deadline"), timeout=2),
    Case("HTTP 500", status(500), "PF209", ("HTTP 500",)),
    Case("HTTP 502", status(502), "PF209", ("HTTP 502",)),
    Case("HTTP 503", status(503), "PF209", ("HTTP 503",)),
    Case("429 without Retry-After", status(429), "PF209", ("rate limited", "HTTP 429")),
    Case("429 Retry-After: 1", status(429, {"Retry-After": "1"}), "PF209", ("retry after 1 s",)),
    Case(
        "429 Retry-After: 86400",
        status(429, {"Retry-After": "86400"}),
        "PF209",
        ("retry after 86400 s",),
        timeout=30,
        budget=6,
    ),
    Case("redirect loop", redirect_loop, "PF209", ("redirected more than 5 times",)),
    Case("redirect to another origin", redirect_elsewhere, None),
    Case("truncated manifest", truncated, "PF209", ("not a JSON object",)),
    Case("invalid JSON manifest", invalid_json, "PF209", ("not a JSON object",)),
    Case("digest header wrong, body right", wrong_digest_header, None, ("Docker-Content-Digest",)),
    Case("digest header and body wrong", wrong_digest_body, "PF209", ("sha256 does not match",)),
    Case("insecure registry: HTTPS fails, HTTP answers", insecure_fallback, None),
    Case("token service down", token_down, "PF209", ("token service", "503")),
    Case("credential helper hangs", helper_hangs, None, ("did not answer within 1.5 s", "was not run"), timeout=3),
)


def execute(lab: Lab, case: Case) -> tuple[Plan, Outcome]:
    """Run ``case`` through the CLI: the broken references first, the healthy typo last."""
    plan = case.plan(lab)
    try:
        refs = [*plan.refs, HEALTHY]
        dockerfile = "".join(f"FROM {r}\n" for r in refs)
        registries = {**plan.registries, "healthy.test": {"endpoint": lab.registry.url}}
        config = {"registries": registries, "daemon-json": str(lab.tmp / "no-daemon.json")}
        started = time.monotonic()
        code, report, stderr = run_check(
            lab.tmp,
            dockerfile,
            config,
            "--timeout",
            f"{case.timeout:g}",
            *plan.args,
            docker_config=plan.docker_config,
            extra_path=plan.extra_path,
        )
        seconds = time.monotonic() - started
    finally:
        if isinstance(plan.keep, socket.socket):
            plan.keep.close()
    first = [f for f in report["findings"] if f["line"] == 1 and f["rule"].startswith("PF2")]
    return plan, Outcome(
        first[0]["rule"] if first else None, first[0]["message"] if first else "", seconds, report, stderr, code
    )


def check(case: Case, plan: Plan, outcome: Outcome) -> None:
    """The broken side's finding, the healthy side's PF201, the time bound, what the servers saw."""
    report = outcome.report
    last = report["summary"]["images"]  # the healthy reference's line
    broken = [(f["line"], f["rule"]) for f in report["findings"] if f["line"] < last and f["rule"].startswith("PF2")]
    if case.rule is None:
        assert broken == [], report["findings"]
        assert all(w in outcome.stderr for w in case.words), outcome.stderr
    else:
        assert broken == [(1, case.rule)], report["findings"]  # one finding per host, on its first line
        assert all(w in outcome.message for w in case.words), outcome.message
    healthy = [f for f in report["findings"] if f["line"] == last]
    assert [f["rule"] for f in healthy] == ["PF201"], report["findings"]
    assert 'did you mean "3.12-slim"?' in healthy[0]["message"]
    assert outcome.code == 1
    budget = case.budget if case.budget is not None else case.timeout + MARGIN
    assert outcome.seconds < budget, f"{case.name}: {outcome.seconds:.1f} s (bound {budget:g} s)"
    plan.after()


class Servers:
    """Fault proxies and shims started for a module, stopped at its end."""

    def __init__(self, registry: OpenRegistry) -> None:
        self.registry = registry
        self.started: list[FaultProxy | Shim] = []

    def proxy(self, hostport: str) -> FaultProxy:
        host, _, port = hostport.rpartition(":")
        self.started.append(FaultProxy(host, int(port)).start())
        return self.started[-1]  # type: ignore[return-value]

    def shim(self, hostport: str) -> Shim:
        host, _, port = hostport.rpartition(":")
        self.started.append(Shim((host, int(port)), ("127.0.0.1", self.registry.port)).start())
        return self.started[-1]  # type: ignore[return-value]

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()


@pytest.fixture(scope="module")
def outcomes(
    registry,
    basic_registry,
    token_registry,
    token_server_session,
    tls_registry,  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Outcome | BaseException]]:
    """Every case, four CLI runs at a time (most of a case is waiting out retries and deadlines)."""
    servers = Servers(registry)

    def one(case: Case) -> Outcome | BaseException:
        lab = Lab(
            registry,
            basic_registry,
            token_registry,
            token_server_session,
            tls_registry,
            servers.proxy,
            servers.shim,
            tmp_path_factory.mktemp("fault"),
        )
        try:
            plan, outcome = execute(lab, case)
            check(case, plan, outcome)
            return outcome
        except BaseException as exc:  # reported by the case's own test
            return exc

    token_server_session.reset()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(zip((c.name for c in CASES), pool.map(one, CASES), strict=False))
    finally:
        servers.stop()
        token_server_session.reset()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(outcomes: dict[str, Outcome | BaseException], case: Case) -> None:
    result = outcomes[case.name]
    if isinstance(result, BaseException):
        raise result


def stall_everywhere(registry: OpenRegistry, make_proxy: Callable[[str], FaultProxy], tmp: Path) -> Outcome:
    """Two registries that never answer; six references on one (more than its 4 at a time), two on
    the other; ``--timeout 2``."""
    a, b = make_proxy(registry.hostport), make_proxy(registry.hostport)
    a.stall_next(1000)
    b.stall_next(1000)
    refs = [f"a.test/library/python:3.12-slim{i}" for i in range(6)] + ["b.test/myorg/app:1.0.0", "b.test/x:1"]
    config = {"registries": {"a.test": {"endpoint": a.url}, "b.test": {"endpoint": b.url}}}
    started = time.monotonic()
    code, report, stderr = run_check(tmp, "".join(f"FROM {r}\n" for r in refs), config, "--timeout", "2")
    first = report["findings"][0] if report["findings"] else {"rule": None, "message": ""}
    return Outcome(first["rule"], first["message"], time.monotonic() - started, report, stderr, code)


def test_stall_on_every_request_reports_every_reference_not_checked(
    registry,
    make_proxy,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """No registry answers at all: the run still ends at the deadline, and nothing passes."""
    outcome = stall_everywhere(registry, make_proxy, tmp_path)
    assert outcome.seconds < 2 + MARGIN
    findings = [(f["line"], f["rule"], f["message"]) for f in outcome.report["findings"]]
    assert [(line, rule) for line, rule, _ in findings] == [(1, "PF209"), (7, "PF209")], findings
    assert "(6 references not checked)" in findings[0][2] and "(2 references not checked)" in findings[1][2]
    assert outcome.report["summary"]["not_checked"] == 8 and outcome.code == 1


SLOW_DNS = """\
import socket, time
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if str(host).endswith("slow-dns.test"):
        time.sleep(60)  # a resolver that never answers
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
"""


def test_a_resolver_that_never_answers_does_not_outlive_the_deadline(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """DNS runs in threads; one still blocked at the deadline must not keep the process alive."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_DNS)  # loaded by the CLI's interpreter at start-up
    dockerfile = f"FROM registry.slow-dns.test/app:1\nFROM registry.slow-dns.test/other:2\nFROM {HEALTHY}\n"
    started = time.monotonic()
    _, report, _ = run_check(
        tmp_path,
        dockerfile,
        {"registries": {"healthy.test": {"endpoint": registry.url}}},
        "--timeout",
        "2",
        env_extra={"PYTHONPATH": f"{site}:{Path(__file__).parents[2]}"},
    )
    assert time.monotonic() - started < 2 + MARGIN
    found = [(f["line"], f["rule"], f["message"]) for f in report["findings"]]
    assert [(line, rule) for line, rule, _ in found] == [(1, "PF209"), (3, "PF201")], found
    assert "(2 references not checked)" in found[0][2] and 'did you mean "3.12-slim"?' in found[1][2]


def test_debug_log_names_each_request_retry_and_registry(
    proxy,
    token_registry,
    token_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """``--debug``: one line per request on stderr (the JSON on stdout stays clean), with method,
    URL without query values, status, milliseconds and the registry served; retries too."""
    proxy.fail_next(1, 503)
    config = {"registries": {"f.test": {"endpoint": proxy.url}, "t.test": {"endpoint": token_registry.url}}}
    _, report, stderr = run_check(
        tmp_path, "FROM f.test/library/python:3.12-slimm\nFROM t.test/library/python:3.12\n", config, "--debug"
    )
    assert [f["rule"] for f in report["findings"]] == ["PF201"]
    p, t = proxy.hostport, token_registry.hostport
    expected = [
        rf"HEAD http://{p}/v2/library/python/manifests/3\.12-slimm -> 503 in \d+ ms \(registry {p}, HTTP/1\.1\)",
        rf"HEAD http://{p}/v2/library/python/manifests/3\.12-slimm: retry 1 of 2 in [0-9.]+ s after HTTP 503",
        rf"GET http://{p}/v2/library/python/tags/list\?n -> 200 in \d+ ms \(registry {p}, HTTP/1\.1\)",
        rf"GET {token_server.url}/token\?service&scope -> 200 in \d+ ms \(registry {t}, HTTP/1\.1\)",
        rf"credentials for {p}: none",
    ]
    lines = [line.removeprefix("preflight: debug: ") for line in stderr.splitlines()]
    for pattern in expected:
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, lines)
    assert "n=1000" not in stderr and "scope=" not in stderr and "Bearer" not in stderr
