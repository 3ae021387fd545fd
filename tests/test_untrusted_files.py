"""``--untrusted``: nothing in a checked repository reaches the runner's environment or files outside it.

Each attack of issue 8 (items 1 and 2) is a small hostile repository. The runner holds a secret in
its environment (``CI_SECRET_TOKEN``), a fake ``~/.aws/credentials`` (INI ``key = value`` lines,
which ``.env`` parsing accepts), a ``~/.netrc`` and an outside directory with a shadow-like file,
a Dockerfile, a compose file and a ``.env``, each holding its own marker. The real CLI runs in a
subprocess (with an audit hook that records every file and directory it opens) against a loopback
registry of our own that records every request line and header, with every output format, every
output file, the GitHub step summary, ``--debug`` and the cache on. Under ``--untrusted`` no
marker may reach the server, stdout, stderr, any written file or the cache; no outside file may be
opened; and the place that names the outside file gets a PF001 "refers to a file outside the
project". Controls show the same runs without ``--untrusted`` (Compose's own rules) do carry the
markers, so the checks can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import write

pytestmark = pytest.mark.slow  # real-CLI subprocess attack suite: out of the fast loop, always in CI

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("text", "json", "sarif", "github", "gitlab")
ENV_SECRET = "envSECRET-7c1e9a"
AWS_SECRET = "awsSECRET-51d0b2"
NETRC_SECRET = "netrcSECRET-a93f47"
OUTSIDE_SECRET = "outsideSECRET-0e6d18"
SECRETS = (ENV_SECRET, AWS_SECRET, NETRC_SECRET, OUTSIDE_SECRET)

# The real CLI, with an audit hook that logs every path the process opens or lists (as given and resolved).
RUNNER = """
import os, sys
log = open(os.environ["PF_OPEN_LOG"], "a", encoding="utf-8", errors="backslashreplace")
def hook(event, args):
    if event in ("open", "os.scandir", "os.listdir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        log.write(path + "\\n" + os.path.realpath(path) + "\\n")  # and where a symbolic link leads
        log.flush()
sys.addaudithook(hook)
from preflight.cli import main
main(sys.argv[1:])
"""


class Recorder(ThreadingHTTPServer):
    """A registry that knows no image: records each request line and its headers, answers 404."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []
        self.lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        with self.server.lock:
            self.server.seen.append(self.requestline + "\n" + str(self.headers))
        body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Recorder]:
    srv = Recorder()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@dataclass
class Run:
    done: subprocess.CompletedProcess[str]
    findings: list[dict]
    outputs: dict[str, bytes]  # stdout, stderr, every file written (outputs, summary, cache)
    requests: list[str]
    opened: list[str]

    def leaked(self, secret: str) -> list[str]:
        forms = {secret.encode(), quote(secret, safe="").encode()}
        where = [name for name, data in self.outputs.items() if any(f in data for f in forms)]
        if any(secret in r or quote(secret, safe="") in r for r in self.requests):
            where.append("registry")
        return where


class Scene:
    """The runner (home with credentials, an outside directory, a secret in the environment) and
    a hostile repository ``repo``."""

    def __init__(self, tmp: Path, server: Recorder) -> None:
        self.tmp = tmp
        self.server = server
        self.registry = server.host
        self.home = tmp / "home"
        self.outside = tmp / "outside"
        self.repo = tmp / "repo"
        write(
            self.home,
            {
                ".aws/credentials": f"[default]\naws_access_key_id = {AWS_SECRET}\naws_secret_access_key = {AWS_SECRET}\n",
                ".netrc": f"TOKEN={NETRC_SECRET}\n",  # a netrc a .env parser accepts
                ".docker/config.json": "{}",
            },
        )
        write(
            self.outside,
            {
                "shadow": f"root:{OUTSIDE_SECRET}:19000:0:99999:7:::\n{OUTSIDE_SECRET}\n",
                "Dockerfile": f"FROM {self.registry}/ctx:{OUTSIDE_SECRET}\n",
                "base.yaml": f"services:\n  base:\n    image: {self.registry}/ext:{OUTSIDE_SECRET}\n",
                "inc.yaml": f"services:\n  inc:\n    image: {self.registry}/inc:{OUTSIDE_SECRET}\n",
                ".env": f"TAG={OUTSIDE_SECRET}\n",
                "sub/Dockerfile": f"FROM {self.registry}/dir:{OUTSIDE_SECRET}\n",
            },
        )
        self.repo.mkdir()
        # A reference that is always fine to look up: proves the registry step ran.
        write(self.repo, {"Dockerfile": f"FROM {self.registry}/ok:1\n"})

    def files(self, files: dict[str, str]) -> None:
        write(self.repo, {name: text.format(r=self.registry, home=self.home) for name, text in files.items()})

    def link(self, name: str, target: Path) -> None:
        path = self.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    def run(self, *args: str, untrusted: bool = True, **extra_env: str) -> Run:
        out = self.tmp / "out"
        out.mkdir(exist_ok=True)
        cache = self.tmp / "cache"
        opened = self.tmp / "opened.log"
        opened.write_text("")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(cache),
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONPATH": str(REPO),
            "GITHUB_STEP_SUMMARY": str(out / "summary.md"),
            "CI_SECRET_TOKEN": ENV_SECRET,
            "PF_OPEN_LOG": str(opened),
            **extra_env,
        }
        # Every format rendered: text to a file with -o, github on stdout (only one format may go
        # to stdout), the others with --output-*.
        assert set(FORMATS) == {"text", "github", "sarif", "json", "gitlab"}
        formats = ["--format", "text", "--format", "github"]
        cmd = [
            sys.executable,
            "-c",
            RUNNER,
            "check",
            ".",
            *(["--untrusted"] if untrusted else []),
            "--allow-host",
            "127.0.0.1",
            "--debug",
            "--timeout",
            "10",
            *formats,
            "-o",
            str(out / "first.txt"),
            "--output-sarif",
            str(out / "r.sarif"),
            "--output-json",
            str(out / "r.json"),
            "--output-gitlab",
            str(out / "gl.json"),
            *args,
        ]
        done = subprocess.run(cmd, cwd=self.repo, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode in (0, 1), done.stderr
        outputs = {"stdout": done.stdout.encode(), "stderr": done.stderr.encode()}
        for path in sorted([*out.rglob("*"), *cache.rglob("*")]):
            if path.is_file():
                outputs[str(path.relative_to(self.tmp))] = path.read_bytes()
        findings = json.loads((out / "r.json").read_text())["findings"]
        with self.server.lock:
            requests = list(self.server.seen)
            self.server.seen.clear()
        return Run(done, findings, outputs, requests, opened.read_text().splitlines())

    def outside_opened(self, run: Run) -> list[str]:
        """Paths under the outside directory or the runner's secrets that the process opened or listed."""
        bad = (str(self.outside), str(self.home / ".aws"), str(self.home / ".netrc"))
        return [p for p in run.opened if p.startswith(bad)]


@pytest.fixture
def scene(tmp_path: Path, server: Recorder) -> Scene:
    return Scene(tmp_path, server)


# Each attack: files of the hostile repository ({r}: the registry, {home}: the runner's home),
# symbolic links (name -> path under the outside directory or home), the secret it goes for, and
# where the untrusted run must report it (path, line, the path as written).
ATTACKS = {
    "environment in image": (
        {"compose.yaml": "services:\n  a:\n    image: {r}/x:${{CI_SECRET_TOKEN}}\n"},
        {},
        ENV_SECRET,
        None,
    ),
    "environment via bare .env key": (
        {".env": "CI_SECRET_TOKEN\n", "compose.yaml": "services:\n  a:\n    image: {r}/x:${{CI_SECRET_TOKEN}}\n"},
        {},
        ENV_SECRET,
        None,
    ),
    "environment via bare build arg": (
        {
            "compose.yaml": "services:\n  a:\n    build:\n      context: app\n      args: [CI_SECRET_TOKEN]\n",
            "app/Dockerfile": "ARG CI_SECRET_TOKEN\nFROM {r}/x:${{CI_SECRET_TOKEN}}\n",
        },
        {},
        ENV_SECRET,
        None,
    ),
    "include env_file absolute": (
        {
            "compose.yaml": "include:\n  - path: inc.yaml\n    env_file: {home}/.aws/credentials\n",
            "inc.yaml": "services:\n  i:\n    image: {r}/y:${{aws_access_key_id}}\n",
        },
        {},
        AWS_SECRET,
        ("compose.yaml", 3, "{home}/.aws/credentials"),
    ),
    "include env_file ~/.netrc": (
        {
            "compose.yaml": "include:\n  - path: inc.yaml\n    env_file: ~/.netrc\n",
            "inc.yaml": "services:\n  i:\n    image: {r}/y:${{TOKEN}}\n",
        },
        {},
        NETRC_SECRET,
        ("compose.yaml", 3, "~/.netrc"),
    ),
    "include project_directory": (
        {
            "compose.yaml": "include:\n  - path: inc.yaml\n    project_directory: ../outside\n",
            "inc.yaml": "services:\n  i:\n    image: {r}/y:${{TAG}}\n",
        },
        {},
        OUTSIDE_SECRET,
        ("compose.yaml", 3, "../outside"),
    ),
    "include path": (
        {"compose.yaml": "include:\n  - ../outside/inc.yaml\n"},
        {},
        OUTSIDE_SECRET,
        ("compose.yaml", 2, "../outside/inc.yaml"),
    ),
    "extends file": (
        {"compose.yaml": "services:\n  a:\n    extends:\n      file: ../outside/base.yaml\n      service: base\n"},
        {},
        OUTSIDE_SECRET,
        ("compose.yaml", 4, "../outside/base.yaml"),
    ),
    ".env symlink": (
        {"compose.yaml": "services:\n  a:\n    image: {r}/x:${{aws_access_key_id}}\n"},
        {".env": "home/.aws/credentials"},
        AWS_SECRET,
        ("compose.yaml", 1, ".env"),
    ),
    "build dockerfile absolute": (
        {"compose.yaml": "services:\n  a:\n    build:\n      context: .\n      dockerfile: {home}/../outside/shadow\n"},
        {},
        OUTSIDE_SECRET,
        ("compose.yaml", 5, "{home}/../outside/shadow"),
    ),
    "build dockerfile symlink": (
        {"compose.yaml": "services:\n  a:\n    build:\n      context: .\n      dockerfile: Buildfile\n"},
        {"Buildfile": "outside/shadow"},
        OUTSIDE_SECRET,
        ("compose.yaml", 5, "Buildfile"),
    ),
    "build context": (
        {"compose.yaml": "services:\n  a:\n    build: ../outside\n"},
        {},
        OUTSIDE_SECRET,
        ("compose.yaml", 3, "../outside"),
    ),
    "discovered Dockerfile symlink": (
        {},
        {"svc/Dockerfile": "outside/shadow"},
        OUTSIDE_SECRET,
        ("svc/Dockerfile", 1, "outside/shadow"),
    ),
    "discovered directory symlink": (
        {},
        {"vendor": "outside/sub"},
        OUTSIDE_SECRET,
        ("vendor", 1, "outside/sub"),
    ),
}


def plant(scene: Scene, files: dict[str, str], links: dict[str, str]) -> None:
    scene.files(files)
    for name, target in links.items():
        scene.link(name, scene.tmp / target)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_untrusted_run_leaks_nothing_and_opens_nothing_outside(scene: Scene, attack: str) -> None:
    files, links, secret, reported = ATTACKS[attack]
    plant(scene, files, links)
    run = scene.run()
    for s in SECRETS:
        assert run.leaked(s) == [], f"{s} leaked ({attack})"
    assert scene.outside_opened(run) == []
    assert any("/v2/ok/manifests/1 " in r for r in run.requests), "the registry step did not run"
    if reported is not None:
        path, line, written = reported
        written = written.format(home=scene.home)
        outside = [f for f in run.findings if "refers to a file outside the project" in f["message"]]
        assert [(f["rule"], f["path"], f["line"]) for f in outside] == [("PF001", path, line)], run.findings
        assert written in outside[0]["message"]


@pytest.mark.parametrize("attack", ["environment in image", "include env_file absolute", "build context"])
def test_without_untrusted_compose_rules_apply(scene: Scene, attack: str) -> None:
    """Control: the same repository without ``--untrusted`` reads what Compose reads, so the
    secret reaches the registry (and the checks above can fail)."""
    files, links, secret, _ = ATTACKS[attack]
    plant(scene, files, links)
    run = scene.run(untrusted=False)
    assert "registry" in run.leaked(secret)


def test_allow_env_lets_the_named_variable_through(scene: Scene) -> None:
    """``--allow-env NAME``: the user's explicit choice; other variables stay out."""
    scene.files({"compose.yaml": "services:\n  a:\n    image: {r}/x:${{CI_SECRET_TOKEN}}-${{OTHER:-none}}\n"})
    run = scene.run("--allow-env", "CI_SECRET_TOKEN", OTHER="otherSECRET")
    assert any(f"/v2/x/manifests/{ENV_SECRET}-none " in r for r in run.requests), run.requests
    assert run.leaked("otherSECRET") == []


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_preflight_untrusted_environment_variable_turns_it_on(scene: Scene, value: str) -> None:
    plant(scene, *ATTACKS["include env_file absolute"][:2])
    run = scene.run(untrusted=False, PREFLIGHT_UNTRUSTED=value)
    assert run.leaked(AWS_SECRET) == [] and scene.outside_opened(run) == []
    assert any("outside the project" in f["message"] for f in run.findings)


def test_preflight_untrusted_off_and_invalid(scene: Scene) -> None:
    plant(scene, *ATTACKS["include env_file absolute"][:2])
    assert "registry" in scene.run(untrusted=False, PREFLIGHT_UNTRUSTED="0").leaked(AWS_SECRET)
    cmd = [sys.executable, "-m", "preflight", "check", ".", "--offline"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFLIGHT_UNTRUSTED": "maybe"}
    done = subprocess.run(cmd, cwd=scene.repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "PREFLIGHT_UNTRUSTED" in done.stderr and done.stdout == ""


def test_images_command_is_confined_too(scene: Scene) -> None:
    plant(scene, *ATTACKS["include env_file absolute"][:2])
    scene.files({"compose.yaml": "services:\n  a:\n    image: {r}/x:${{CI_SECRET_TOKEN}}\n"})
    cmd = [sys.executable, "-m", "preflight", "images", ".", "--untrusted", "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI_SECRET_TOKEN": ENV_SECRET, "HOME": str(scene.home)}
    done = subprocess.run(cmd, cwd=scene.repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ENV_SECRET not in done.stdout + done.stderr


def test_a_file_that_is_not_a_dockerfile_is_reported_once_without_its_content(scene: Scene) -> None:
    """In every mode: a build pointed at a file with no Dockerfile instruction is one finding, and
    no line of it is quoted."""
    scene.files(
        {"compose.yaml": "services:\n  a:\n    build:\n      context: .\n      dockerfile: ../outside/shadow\n"}
    )
    run = scene.run("--offline", untrusted=False)
    assert run.leaked(OUTSIDE_SECRET) == []
    shadow = [f for f in run.findings if f["path"].endswith("shadow")]
    assert [(f["rule"], f["line"]) for f in shadow] == [("PF001", 1)]
    assert shadow[0]["message"].startswith("not a Dockerfile")


def test_readme_pull_request_target_example() -> None:
    """The documented ``pull_request_target`` job: preflight installed before the pull request is
    checked out, the checkout without persisted credentials, ``PREFLIGHT_UNTRUSTED`` that preflight
    reads as on."""
    import re

    import yaml

    from preflight.confine import env_flag

    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet: github-untrusted -->\n```yaml\n(.*?)```", text, re.S)
    assert match, "README.md has no github-untrusted snippet"
    workflow = yaml.safe_load(match.group(1))
    assert list(workflow[True]) == ["pull_request_target"]  # YAML 1.1 reads the key "on" as true
    job = workflow["jobs"]["preflight"]
    assert env_flag(job["env"]["PREFLIGHT_UNTRUSTED"]) is True
    steps = job["steps"]
    checkout = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/checkout@"))
    install = next(i for i, s in enumerate(steps) if "pip install" in s.get("run", ""))
    assert install < checkout
    assert steps[checkout]["with"]["persist-credentials"] is False
    assert steps[checkout]["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    check = steps[-1]
    assert (
        check["run"].startswith("preflight check .") and check["working-directory"] == steps[checkout]["with"]["path"]
    )
    assert "write" not in set(workflow["permissions"].values())


def test_a_nul_byte_in_a_build_path_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """Found on the way: ``dockerfile: "a\\0b"`` ended the run with ``internal error: ValueError``."""
    from preflight.config import Config
    from preflight.pipeline import check_paths

    write(tmp_path, {"compose.yaml": 'services:\n  a:\n    build: {context: ., dockerfile: "a\\0b"}\n'})
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.line) for f in report.findings] == [("PF001", 3)]
    assert "NUL byte" in report.findings[0].message


def test_unresolved_variable_advice_names_allow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --untrusted, "set it in the environment" would not help: PF003 names --allow-env."""
    from click.testing import CliRunner

    from preflight.cli import cli

    write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: alpine:${TAG}\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAG", "3.20")
    done = CliRunner().invoke(cli, ["check", ".", "--offline", "--untrusted", "--format", "json"])
    [finding] = json.loads(done.output)["findings"]
    assert finding["rule"] == "PF003" and "--allow-env TAG" in finding["message"]
    done = CliRunner().invoke(cli, ["check", ".", "--offline", "--untrusted", "--allow-env", "TAG", "--format", "json"])
    assert json.loads(done.output)["findings"] == []


def test_fix_is_confined_too(scene: Scene) -> None:
    """``preflight fix --untrusted`` reads the same files as ``check``: no environment, no outside file."""
    plant(scene, *ATTACKS["include env_file absolute"][:2])
    scene.files(
        {"compose.yaml": "services:\n  a:\n    image: {r}/x:${{CI_SECRET_TOKEN}}\n  b:\n    build: ../outside\n"}
    )
    cmd = [sys.executable, "-m", "preflight", "fix", ".", "--dry-run", "--untrusted", "--allow-host", "127.0.0.1"]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(scene.home),
        "XDG_CACHE_HOME": str(scene.tmp / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "CI_SECRET_TOKEN": ENV_SECRET,
    }
    done = subprocess.run(cmd, cwd=scene.repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    assert any("/v2/ok/manifests/1 " in r for r in scene.server.seen), "the registry step did not run"
    for secret in (ENV_SECRET, OUTSIDE_SECRET):
        assert not any(secret in r for r in scene.server.seen)
        assert secret not in done.stdout + done.stderr
