"""The container engine without an engine: discovery the way the docker CLI does it, the answers'
parsing, and the rules that read engine facts (PF210, PF211, PF212)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import preflight.rules.engine as rules
from preflight.engine import RuleContext, Selection, evaluate
from preflight.facts import EngineFacts, ImageFacts, LocalImage, Status
from preflight.localengine import discover, survey
from preflight.localengine.answers import negotiate, parse_image, parse_info
from preflight.localengine.discover import Target, TLSFiles, Unusable, find_engine
from preflight.model import Document, ImageUse, Location, Summary, UseKind
from preflight.resolve import resolve_documents


@pytest.fixture
def listening_socket(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    try:
        yield str(path)
    finally:
        sock.close()


def context_store(config_dir: Path, name: str, host: str, *, tls: bool = False, skip_verify: bool = False) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    if tls:
        files = config_dir / "contexts" / "tls" / digest / "docker"
        files.mkdir(parents=True)
        for name in ("ca.pem", "cert.pem", "key.pem"):
            (files / name).write_text("x")


# ----------------------------------------------------------------- discovery


def test_docker_host_unix_and_tcp(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert find_engine({**env, "DOCKER_HOST": "unix:///run/x.sock"}) == Target(
        "unix:///run/x.sock", "DOCKER_HOST", True
    )
    found = find_engine({**env, "DOCKER_HOST": "tcp://10.0.0.5"})
    assert isinstance(found, Target) and found.url == "tcp://10.0.0.5:2375" and found.tls is None
    assert found.base_url == "http://10.0.0.5:2375"


def test_docker_host_tcp_with_tls_reads_the_cert_path(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "cert.pem").write_text("x")
    env = {"DOCKER_HOST": "tcp://engine.example:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    found = find_engine(env)
    assert isinstance(found, Target) and found.base_url == "https://engine.example:2376"
    assert found.tls == TLSFiles(str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem"), None, verify=True)


@pytest.mark.parametrize(
    ("host", "supported"),
    [("ssh://me@build.example", False), ("npipe:////./pipe/docker_engine", False), ("unix://relative.sock", True),
     ("tcp://:2375", True), ("tcp://user:pw@engine:2375", True), ("engine:2375", True)],
)  # fmt: skip
def test_unusable_docker_host(host: str, supported: bool) -> None:
    found = find_engine({"DOCKER_HOST": host})
    assert isinstance(found, Unusable) and found.supported is supported and found.source == "DOCKER_HOST"
    assert "pw" not in found.endpoint


def test_docker_host_wins_over_docker_context(tmp_path: Path) -> None:
    context_store(tmp_path, "remote", "tcp://remote.example:2375")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "unix:///a.sock", "DOCKER_CONTEXT": "remote"}
    found = find_engine(env)
    assert isinstance(found, Target) and found.url == "unix:///a.sock"


def test_docker_context_and_current_context_use_the_context_store(tmp_path: Path) -> None:
    context_store(tmp_path, "remote", "tcp://remote.example:2376", tls=True, skip_verify=True)
    context_store(tmp_path, "colima", "unix:///home/me/.colima/docker.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    found = find_engine({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "remote"})
    assert isinstance(found, Target) and found.url == "tcp://remote.example:2376" and found.configured
    assert found.tls is not None and found.tls.verify is False and found.tls.key is not None
    assert found.source.startswith('context "remote"')
    current = find_engine({"DOCKER_CONFIG": str(tmp_path)})
    assert isinstance(current, Target) and current.url == "unix:///home/me/.colima/docker.sock"
    assert "currentContext" in current.source


def test_a_context_that_does_not_exist_is_a_configured_failure(tmp_path: Path) -> None:
    found = find_engine({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    assert isinstance(found, Unusable) and found.supported and "no such context" in found.reason


def test_default_context_is_the_default_socket(tmp_path: Path, listening_socket: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(discover, "DEFAULT_SOCKET", listening_socket)
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    found = find_engine({"DOCKER_CONFIG": str(tmp_path)})
    assert found == Target(f"unix://{listening_socket}", "default socket", configured=False)


def test_podman_socket_when_there_is_no_docker_socket(tmp_path: Path, listening_socket: str) -> None:
    runtime = Path(listening_socket).parent / "rt"
    (runtime / "podman").mkdir(parents=True)
    podman = runtime / "podman" / "podman.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(podman))
    try:
        found = find_engine({"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime)})
    finally:
        sock.close()
    assert found == Target(f"unix://{podman}", "Podman socket", configured=False)


def test_no_engine_anywhere_is_none(tmp_path: Path) -> None:
    assert find_engine({"HOME": str(tmp_path)}) is None
    assert survey(["docker.io/library/python:3.12"], {"HOME": str(tmp_path)}, None, 5).facts is None


def test_engine_choice_wins_and_off_disables(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///a.sock"}
    assert find_engine(env, "off") is None
    found = find_engine(env, "unix:///b.sock")
    assert isinstance(found, Target) and found.url == "unix:///b.sock" and found.source == "--engine"


# ----------------------------------------------------------------- asking an engine that is not there


def test_a_configured_engine_that_does_not_answer_is_a_fact_with_the_reason(tmp_path: Path) -> None:
    result = survey(["docker.io/library/python:3.12"], {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, None, 2)
    assert result.facts is not None and not result.facts.answered
    assert "there is no socket at" in result.facts.detail


def test_a_guessed_socket_that_does_not_answer_is_silence(tmp_path: Path, listening_socket: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A stale default socket (engine stopped): no engine, no finding. (It accepts and never answers.)"""
    monkeypatch.setattr(discover, "DEFAULT_SOCKET", listening_socket)
    result = survey(["docker.io/library/python:3.12"], {"HOME": str(tmp_path)}, None, 0.5)
    assert result.facts is None and result.warnings == ()


def test_a_hung_configured_engine_is_given_up_at_its_timeout(listening_socket: str) -> None:
    result = survey(["docker.io/library/python:3.12"], {"DOCKER_HOST": f"unix://{listening_socket}"}, None, 0.5)
    assert result.facts is not None and not result.facts.answered and "within 0.5 s" in result.facts.detail


def test_ssh_is_a_warning_not_a_finding() -> None:
    result = survey(["docker.io/library/python:3.12"], {"DOCKER_HOST": "ssh://me@host"}, None, 2)
    assert result.facts is None
    (warning,) = result.warnings
    assert "ssh:// engines are not supported" in warning and "me@" not in warning


# ----------------------------------------------------------------- parsing answers


def test_api_version_negotiation() -> None:
    assert negotiate("1.41") == "1.41"
    assert negotiate("1.99") == "1.45"
    assert negotiate(None) == negotiate("garbage") == "1.24"


def test_info_and_image_parsing_tolerate_junk() -> None:
    info = parse_info(
        {
            "RegistryConfig": {
                "Mirrors": ["https://mirror.example/"],
                "InsecureRegistryCIDRs": ["127.0.0.0/8", 5],
                "IndexConfigs": {"reg.local:5000": {"Secure": False}, "docker.io": {"Secure": True}},
            },
            "HttpsProxy": "http://user:secret@proxy:3128",
            "DockerRootDir": "/var/lib/docker",
        }
    )
    assert info.mirrors == ("https://mirror.example",)
    assert info.insecure == ("127.0.0.0/8", "reg.local:5000")
    assert "secret" not in info.https_proxy and info.root_dir == "/var/lib/docker"
    assert parse_info([1, 2]).mirrors == ()
    image = parse_image("r", {"Id": "sha256:ab", "Os": "linux", "Architecture": "arm64", "Variant": "v8"})
    assert image == LocalImage("r", "sha256:ab", "linux/arm64/v8", ())
    assert parse_image("r", {"Id": 5}) is None


# ----------------------------------------------------------------- rules reading engine facts


def _use(written: str, line: int = 1) -> ImageUse:
    return ImageUse(UseKind.FROM, Location("Dockerfile", line, 6), written, written)


def _run(
    uses: list[ImageUse], facts: dict[str, ImageFacts], engine: EngineFacts | None
) -> list[tuple[str, int, str, str]]:
    doc = Document("Dockerfile", "dockerfile", uses=tuple(uses))
    report = evaluate(resolve_documents([doc]), Selection(), RuleContext(facts=facts, engine=engine), Summary())
    return [(f.rule, f.location.line, f.level.value, f.message) for f in report.findings]


REF = "reg.example/acme/app:1.0"
CANON = "reg.example/acme/app:1.0"
HELD = LocalImage(CANON, "sha256:" + "a" * 64, "linux/amd64", ())


def _engine(*held: LocalImage, answered: bool = True) -> EngineFacts:
    return EngineFacts("unix:///run/docker.sock", "DOCKER_HOST", answered, images={i.reference: i for i in held})


@pytest.mark.parametrize(
    "status", [Status.TAG_MISSING, Status.REPO_MISSING, Status.AUTH_REQUIRED, Status.DIGEST_MISSING]
)
def test_registry_says_missing_but_the_engine_holds_it_is_pf210_only(status: Status) -> None:
    facts = {CANON: ImageFacts(CANON, status, "reg.example")}
    found = _run([_use(REF)], facts, _engine(HELD))
    assert [(r, lvl) for r, _, lvl, _ in found] == [("PF210", "warning")]
    message = found[0][3]
    assert "built, imported or loaded on this machine" in message and "fails on any clean machine" in message
    # without the engine, the registry rule speaks
    assert [r for r, *_ in _run([_use(REF)], facts, None)] != ["PF210"]


def test_pf210_says_where_a_pulled_copy_came_from() -> None:
    pulled = LocalImage(CANON, "sha256:b", "linux/amd64", ("other.example/acme/app@sha256:" + "c" * 64,))
    facts = {CANON: ImageFacts(CANON, Status.TAG_MISSING, "reg.example")}
    ((_, _, _, message),) = _run([_use(REF)], facts, _engine(pulled))
    assert "pulled from or pushed to other.example/acme/app" in message


def test_registry_down_with_a_local_copy_is_a_note_and_pf208_counts_the_rest() -> None:
    other = "reg.example/acme/db:2.0"
    facts = {
        CANON: ImageFacts(CANON, Status.NETWORK_REFUSED, "reg.example", detail="refused"),
        other: ImageFacts(other, Status.NETWORK_REFUSED, "reg.example", detail="refused"),
    }
    found = _run([_use(REF), _use(other, line=2)], facts, _engine(HELD))
    assert [(r, line, lvl) for r, line, lvl, _ in found] == [("PF211", 1, "note"), ("PF208", 2, "warning")]
    assert "uses the local copy unless it is run with --pull" in found[0][3]
    assert "(1 reference not checked)" in found[1][3]


def test_rate_limited_with_a_local_copy_is_the_note() -> None:
    facts = {CANON: ImageFacts(CANON, Status.RATE_LIMITED, "reg.example", detail="HTTP 429")}
    assert [r for r, *_ in _run([_use(REF)], facts, _engine(HELD))] == ["PF211"]


def test_an_engine_that_does_not_answer_is_pf212_once_and_holds_nothing() -> None:
    facts = {CANON: ImageFacts(CANON, Status.TAG_MISSING, "reg.example")}
    down = EngineFacts("unix:///x.sock", "DOCKER_HOST", False, detail="there is no socket at /x.sock", images={})
    found = _run([_use(REF), _use(REF, line=2)], facts, down)
    assert sorted((r, line) for r, line, *_ in found) == [("PF201", 1), ("PF201", 2), ("PF212", 1)]
    assert rules.engine_unreachable is not None


def test_offline_run_imports_no_engine_code(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\n")
    probe = (
        "import sys\nfrom preflight.cli import main\n"
        "try:\n    main(['check', '--offline', '.'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('preflight.localengine')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
    assert "PF212" not in result.stdout


@pytest.mark.parametrize(
    ("name", "text"),
    [(".preflight.yaml", "engine: tcp://attacker.example:2375\n"),
     ("pyproject.toml", '[tool.preflight]\nengine = "tcp://attacker.example:2375"\n')],
)  # fmt: skip
def test_a_project_configuration_cannot_choose_the_engine(tmp_path: Path, name: str, text: str) -> None:
    from preflight.config import load_config

    (tmp_path / name).write_text(text)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    for untrusted in (False, True):
        config = load_config(tmp_path, untrusted=untrusted, environ=env)
        assert config.engine is None and any("engine" in w for w in config.warnings), config.warnings
    user = tmp_path / "xdg" / "preflight" / "config.yaml"  # the machine's owner may
    user.parent.mkdir(parents=True)
    user.write_text("engine: 'off'\n")
    assert load_config(tmp_path / "xdg", environ=env).engine == "off"
    for untrusted in (False, True):  # beside the project's attempt, the owner's setting stands
        assert load_config(tmp_path, untrusted=untrusted, environ=env).engine == "off"


# ----------------------------------------------------------------- which requests: listing or inspects


class _FakeEngine:
    """An engine over a Unix socket that answers from a table and records the paths asked."""

    def __init__(self, path: str, server: str, listing_status: int, held: str) -> None:
        import threading

        self.paths: list[str] = []
        self.server, self.listing_status, self.held = server, listing_status, held
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _answer(self, path: str) -> tuple[int, bytes]:
        if path.endswith("/_ping"):
            return 200, b"OK"
        if path == "/info":
            return 200, b"{}"
        if "/images/json" in path:
            return self.listing_status, b"[]"
        if path.endswith(f"/images/{self.held}/json"):
            return 200, json.dumps({"Id": "sha256:" + "a" * 64, "Os": "linux", "Architecture": "amd64"}).encode()
        return 404, b'{"message": "no such image"}'

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while line := reader.readline():
                path = line.split()[1].decode()
                while reader.readline() not in (b"\r\n", b""):
                    pass
                self.paths.append(path.split("?")[0])
                status, body = self._answer(path)
                head = f"HTTP/1.1 {status} X\r\nServer: {self.server}\r\nApi-Version: 1.41\r\nContent-Length: {len(body)}\r\n\r\n"
                conn.sendall(head.encode() + body)


@pytest.mark.parametrize(
    ("server", "listing_status", "listed"),
    [("Libpod/4.3.1 (linux)", 200, False), ("Docker/20.10.24 (linux)", 500, True)],
    ids=["podman: one inspect per reference", "docker listing fails: one inspect per reference"],
)
def test_without_a_docker_listing_each_reference_is_inspected(
    tmp_path: Path, server: str, listing_status: int, listed: bool
) -> None:
    from preflight.localengine import client

    refs = [f"reg.example/app:{i}" for i in range(client.LIST_FROM + 2)]
    engine = _FakeEngine(str(tmp_path / "e.sock"), server, listing_status, refs[3])
    try:
        found = survey(refs, {"DOCKER_HOST": f"unix://{tmp_path}/e.sock"}, None, 5)
    finally:
        engine.sock.close()
    assert found.facts is not None and found.facts.answered
    assert list(found.facts.images) == [refs[3]] and found.facts.images[refs[3]].platform == "linux/amd64"
    assert ("/v1.41/images/json" in engine.paths) is listed
    assert sum(p.startswith("/v1.41/images/reg.example") for p in engine.paths) == len(refs)


@pytest.mark.parametrize(
    ("canonical", "docker_says"),
    [
        ("docker.io/library/python:3.12", "python:3.12"),
        ("docker.io/myorg/app:latest", "myorg/app:latest"),
        ("docker.io/library/a/b:1", "library/a/b:1"),
        ("ghcr.io/o/r:1", "ghcr.io/o/r:1"),
        ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
        (f"docker.io/library/python:3.12@sha256:{'a' * 64}", f"python@sha256:{'a' * 64}"),
    ],
)
def test_familiar_is_how_docker_lists_a_reference(canonical: str, docker_says: str) -> None:
    from preflight.localengine.answers import familiar

    assert familiar(canonical) == docker_says
