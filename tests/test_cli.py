"""The command line as users run it: real files on disk, real processes where it matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write

import preflight
from preflight import cli as cli_module
from preflight.cli import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, monkeypatch):
    write(
        tmp_path,
        {
            "Dockerfile": "ARG BASE=python:latest\nFROM ${BASE} AS build\nFROM build\nCOPY --from=nginx /a /b\n",
            "compose.yaml": "services:\n  web:\n    image: redis:7\n  app:\n    build: ./app\n    image: myorg/app\n",
            "app/Dockerfile": "FROM alpine:3.20\n",
            "k8s/deploy.yaml": "image: nginx\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_text_output_and_exit_code(project):
    result = invoke("check", "--offline")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert 'Dockerfile:2:6: PF102 warning: "${BASE}" (resolves to "python:latest")' in lines[0]
    assert lines[1].startswith("Dockerfile:4:13: PF101 warning:")
    assert "k8s" not in result.output  # other YAML is not a compose file
    assert lines[-1] == "2 warnings in 3 files (5 images)"


def test_json_contract(project):
    result = invoke("check", "--offline", "--format", "json")
    data = json.loads(result.output)
    assert set(data) == {"findings", "summary"}
    first = data["findings"][0]
    assert first == {
        "rule": "PF102",
        "level": "warning",
        "message": first["message"],
        "path": "Dockerfile",
        "line": 2,
        "column": 6,
        "image": "${BASE}",
    }
    assert data["summary"]["files"] == 3 and data["summary"]["offline"] is True


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((), 1),
        (("--fail-level", "error"), 0),
        (("--fail-level", "note"), 1),
        (("--fail-level", "none"), 0),
        (("--exit-zero",), 0),
        (("--ignore", "PF101,PF102"), 0),
        (("--select", "PF1", "--ignore", "PF102"), 1),
    ],
)
def test_exit_codes(project, args, code):
    assert invoke("check", "--offline", *args).exit_code == code


def test_clean_project_exits_zero(tmp_path, monkeypatch):
    write(tmp_path, {"Dockerfile": "FROM python:3.12-slim\n"})
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "--offline")
    assert result.exit_code == 0
    assert result.output.strip() == "No problems found in 1 file (1 image)."


def test_config_errors_exit_2_with_the_key(project):
    (project / ".preflight.yaml").write_text("fail_levle: error\n")
    result = CliRunner().invoke(cli, ["check", "--offline"])
    assert result.exit_code == 2
    assert "fail_levle" in result.output


def test_usage_error_exits_2(project):
    result = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--format", "xml"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "xml" in result.stderr


def test_internal_error_is_exit_2_not_findings(project, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("preflight.pipeline.load", boom)
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["check", "--offline"])
    assert exc.value.code == 2


def test_exit_zero_never_masks_errors(project):
    (project / ".preflight.yaml").write_text("bogus: 1\n")
    assert CliRunner().invoke(cli, ["check", "--offline", "--exit-zero"]).exit_code == 2


def test_several_formats_in_one_run(project):
    result = invoke("check", "--offline", "--output-sarif", "out.sarif", "--output-json", "out.json")
    assert "PF102" in result.output
    sarif = json.loads((project / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    data = json.loads((project / "out.json").read_text())
    assert [f["rule"] for f in data["findings"]] == [r["ruleId"] for r in sarif["runs"][0]["results"]]


def test_output_file(project):
    result = run_cli(project, "check", "--offline", "--format", "github", "-o", "gh.txt")
    assert result.stdout == ""
    assert (project / "gh.txt").read_text().startswith("::warning file=Dockerfile,line=2,col=6")


def test_build_args_from_the_command_line(project):
    result = invoke("check", "--offline", "--build-arg", "BASE=python:3.12", "--format", "json")
    rules = [(f["rule"], f["line"]) for f in json.loads(result.output)["findings"]]
    assert ("PF102", 2) not in rules


def test_images_json_and_unique(project):
    data = json.loads(invoke("images", "--format", "json").output)
    rows = {(r["path"], r["line"], r["kind"]): r for r in data["images"]}
    assert rows[("Dockerfile", 2, "from")] == {
        "path": "Dockerfile", "line": 2, "column": 6, "kind": "from",
        "written": "${BASE}", "resolved": "python:latest", "reference": "docker.io/library/python:latest",
    }  # fmt: skip
    assert ("Dockerfile", 3, "from") not in rows  # a stage name is not an image
    assert rows[("compose.yaml", 6, "compose")]["reference"] == "docker.io/myorg/app:latest"
    unique = invoke("images", "--unique").output.split()
    assert unique == sorted(set(unique))
    assert "docker.io/myorg/app:latest" not in unique  # built by compose, never pulled
    assert "docker.io/library/alpine:3.20" in unique  # the Dockerfile compose builds


def test_images_text_table(project):
    out = invoke("images").output.splitlines()
    assert out[0].split() == ["LOCATION", "KIND", "WRITTEN", "REFERENCE"]
    assert any(line.startswith("Dockerfile:4:13") and "copy-from" in line for line in out)


def test_rules_and_rule_page():
    listing = invoke("rules").output
    assert "PF102  latest-tag" in listing
    page = invoke("rule", "pf102").output
    assert page.startswith("# PF102 latest-tag")
    assert CliRunner().invoke(cli, ["rule", "PF999"]).exit_code == 2


def test_version_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert preflight.__version__ == meta["project"]["version"]


def test_offline_run_imports_no_network_code(project):
    probe = (
        "import sys\n"
        "from preflight.cli import main\n"
        "try:\n    main(['check', '--offline', '.'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'httpx', 'httpcore', 'ssl', 'asyncio', 'socket'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=project)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_offline_run_imports_only_what_it_uses(project):
    # Start-up is most of an offline run (bench/instructions.py): the fact types and --deep's Download
    # (the offline path names them in annotations only), `preflight fix`, `preflight images`, the engine client and the
    # modules only a misspelt setting or GitHub Actions needs stay unloaded.
    deferred = {
        "preflight.facts", "preflight.fix", "preflight.localengine", "preflight.registry",
        "preflight.report.images", "difflib", "secrets",
    }  # fmt: skip
    probe = (
        "import sys\n"
        "from preflight.cli import main\n"
        "try:\n    main(['check', '--offline', '.'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if any(m == d or m.startswith(d + '.') for d in {sorted(deferred)!r})))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=project, env=env)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_github_format_writes_the_full_list_to_the_step_summary(project, monkeypatch):
    summary = project / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = invoke("check", "--offline", "--format", "github")
    assert result.output.startswith("::warning file=Dockerfile,line=2,col=6")
    table = summary.read_text()
    assert table.startswith("## preflight") and "| warning | PF102 | `Dockerfile:2:6` |" in table


@pytest.mark.parametrize("command", [("check", "--offline", "--exit-zero"), ("images",)])
def test_a_path_that_does_not_exist_is_a_usage_error(project, command):
    result = CliRunner().invoke(cli, [*command, "servcies/"])
    assert result.exit_code == 2
    assert "path not found: servcies/" in result.output


def test_debug_log_lines_show_control_characters_as_escapes(capsys) -> None:
    import logging

    from preflight.clisupport import debug_logging

    logger = logging.getLogger("preflight")
    before = list(logger.handlers)
    debug_logging()
    try:
        logging.getLogger("preflight.registry").debug("host %s", "evil\x1b]52;c;eA==\x07\u202e")
    finally:
        for handler in logger.handlers[len(before) :]:
            logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "evil\\x1b]52;c;eA==\\x07\\u202e" in err and "\x1b" not in err


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process: stdout and stderr apart (CliRunner mixes them on older click)."""
    return subprocess.run(
        [sys.executable, "-m", "preflight", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_only_one_format_may_go_to_stdout(project):
    both = run_cli(project, "check", "--offline", "--format", "text", "--format", "json")
    assert both.returncode == 2 and both.stdout == ""
    assert "only one format can go to stdout" in both.stderr and "-o FILE" in both.stderr
    split = run_cli(project, "check", "--offline", "--format", "sarif", "-o", "x.sarif", "--format", "json")
    assert split.returncode == 1 and json.loads(split.stdout)["summary"]["files"] == 3
    assert json.loads((project / "x.sarif").read_text())["version"] == "2.1.0"


def test_output_file_puts_the_summary_on_stderr(project):
    result = run_cli(project, "check", "--offline", "--format", "gitlab", "-o", "gl.json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "preflight: 2 warnings in 3 files (5 images)\n"
    assert len(json.loads((project / "gl.json").read_text())) == 2


@pytest.mark.parametrize("command", [("check", "--offline"), ("images",)])
def test_nothing_to_check_says_so_on_stderr(tmp_path, command):
    write(tmp_path, {"docs/README.md": "FROM python:3.12\n", "k8s/deploy.yaml": "image: nginx\n"})
    result = run_cli(tmp_path, *command, "docs", "k8s")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "preflight: no Dockerfile or compose file found under docs, k8s\n"
    found = run_cli(tmp_path / "k8s", *command, "deploy.yaml")  # named explicitly: read as compose
    assert "no Dockerfile or compose file" not in found.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("foo", "--platform: 'foo' is not os/arch[/variant]"),
        ("linux/amd64x", "--platform: 'linux/amd64x': unknown architecture 'amd64x' (did you mean amd64?)"),
        ("linux/arm/v9", "--platform: 'linux/arm/v9': unknown variant 'v9' for arm"),
        ("lnux/amd64", "--platform: 'lnux/amd64': unknown operating system 'lnux' (did you mean linux?)"),
    ],
)
def test_platform_is_validated_and_named_as_written(project, value, expected):
    result = CliRunner().invoke(cli, ["check", "--offline", "--platform", value])
    assert result.exit_code == 2
    assert expected in result.output and "--platforms" not in result.output


@pytest.mark.parametrize("value", ["linux/amd64", "linux/x86_64", "linux/arm64/v8", "linux/arm/7", "windows/amd64"])
def test_platform_spellings_containerd_takes_are_accepted(project, value):
    assert CliRunner().invoke(cli, ["check", "--offline", "--platform", value]).exit_code == 1


def test_help_texts():
    top = invoke("--help").output
    (rule_line,) = [line for line in top.splitlines() if line.strip().startswith("rule ")]
    assert rule_line.rstrip().endswith("PF102.")  # a whole sentence, not cut at "(e.g."
    options = invoke("check", "--help").output
    assert "-o, --output FILE" in options and "--output-sarif FILE" in options
    timeout = options[options.index("--timeout") :]
    assert "default: 30" in " ".join(timeout.split()[:12])


def test_rule_page_is_printed_for_readers():
    page = invoke("rule", "PF201").output
    assert "expect:" not in page and "```registry" not in page
    assert page.startswith("# PF201 tag-not-found") and "3.12-slimm" in page
    config_page = invoke("rule", "PF103").output
    assert "preflight-config" not in config_page and "In `.preflight.yaml`:" in config_page
    pf001 = invoke("rule", "PF001").output
    assert "file=" not in pf001 and "`api/Dockerfile`:" in pf001


def test_rule_without_its_page_prints_name_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An install that lost its rule pages (report.text.rule_text, what `preflight rule` prints)."""
    from preflight.report import pages

    monkeypatch.setattr(pages, "PAGE_DIRS", (tmp_path,))
    pages.rule_page.cache_clear()
    try:
        page = invoke("rule", "PF102").output
    finally:
        pages.rule_page.cache_clear()
    assert page == "PF102 latest-tag\n\nAn image uses the latest tag without a digest.\n"


def test_readme_documents_every_check_option():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for param in cli.commands["check"].params:
        for opt in getattr(param, "opts", []) + getattr(param, "secondary_opts", []):
            if opt.startswith("--") and not param.hidden and opt not in ("--help", "--config"):
                assert f"`{opt}" in readme or f"/{opt}" in readme or f"{opt}`" in readme, opt


def test_a_named_file_that_is_no_dockerfile_is_one_finding_and_never_looked_up(tmp_path):
    import socket

    with socket.socket() as sock:  # a closed port: a lookup would give PF208
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prose = "# Project\n\nBuild it on\n\n    FROM 127.0.0.1:{p}/base:1.0\n\nthen run it.\nSee the docs for more.\n"
    write(tmp_path, {"README.md": prose.format(p=port), "build/app.docker": "ARG V=3.20\nFROM alpine:${V}\n"})
    result = run_cli(tmp_path, "check", "--format", "json", "--no-cache", "README.md")
    data = json.loads(result.stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in data["findings"]] == [("PF001", "README.md", 1)], result.stderr
    assert data["findings"][0]["message"].startswith("not a Dockerfile or compose file")
    assert data["summary"]["images"] == 0
    named = json.loads(run_cli(tmp_path, "check", "--offline", "--format", "json", "build/app.docker").stdout)
    assert named == {"findings": [], "summary": named["summary"]} and named["summary"]["images"] == 1


def test_a_tab_in_yaml_is_explained(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n\timage: redis:7\n"})
    found = json.loads(run_cli(tmp_path, "check", "--offline", "--format", "json").stdout)["findings"]
    assert [(f["rule"], f["line"], f["message"]) for f in found] == [
        ("PF001", 3, "invalid YAML: a tab cannot indent YAML; indent with spaces")
    ]
    write(tmp_path, {".preflight.yaml": "select:\n\t- PF1\n"})
    config = run_cli(tmp_path, "check", "--offline")
    assert config.returncode == 2 and ".preflight.yaml:2: invalid YAML: a tab cannot indent YAML" in config.stderr


@pytest.mark.parametrize("how", ["option", "config"])
def test_exclude_also_covers_a_dockerfile_a_compose_service_builds(tmp_path, how):
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  app:\n    build: ./app\n  web:\n    image: nginx:latest\n",
            "app/Dockerfile": "FROM python:latest\n",
            "vendored/compose.yaml": "services:\n  x:\n    build: ../app\n",
        },
    )
    args = ["--exclude", "app/**"] if how == "option" else []
    if how == "config":
        write(tmp_path, {".preflight.yaml": "exclude: [app/**]\n"})
    result = run_cli(tmp_path, "check", "--offline", "--format", "json", *args)
    found = [(f["rule"], f["path"]) for f in json.loads(result.stdout)["findings"]]
    assert found == [("PF102", "compose.yaml")], result.stderr
    listed = run_cli(tmp_path, "images", "--unique", *args).stdout.split()
    assert listed == ["docker.io/library/nginx:latest"]


def test_no_fail_on_unchecked_lets_only_unreachable_registries_pass(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write(tmp_path, {"Dockerfile": f"FROM 127.0.0.1:{port}/team/app:1.0\n"})
    env = ("--no-cache", "--timeout", "10")
    strict = run_cli(tmp_path, "check", *env)
    assert strict.returncode == 1 and "PF208" in strict.stdout
    lenient = run_cli(tmp_path, "check", *env, "--no-fail-on-unchecked")
    assert lenient.returncode == 0 and "PF208" in lenient.stdout
    assert "not failing because of --no-fail-on-unchecked" in lenient.stderr
    last_wins = run_cli(tmp_path, "check", *env, "--no-fail-on-unchecked", "--fail-on-unchecked")
    assert last_wins.returncode == 1
    write(tmp_path, {"Dockerfile": f"FROM 127.0.0.1:{port}/team/app:latest\n"})
    other = run_cli(tmp_path, "check", *env, "--no-fail-on-unchecked")
    assert other.returncode == 1 and "PF102" in other.stdout  # every other finding still fails


def test_images_prints_a_dockerfile_built_by_several_services_once(tmp_path, monkeypatch):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM python:3.12\n")
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    build: app\n  b:\n    build: app\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["images", "--format", "json", "."])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["images"]
    assert [(r["path"], r["reference"]) for r in rows] == [("app/Dockerfile", "docker.io/library/python:3.12")]


def test_stdout_in_github_actions_runs_no_workflow_command_from_a_file(tmp_path):
    """A path or text a repository chooses (`::add-mask::`, legacy `##[...]`) printed by --format text
    inside GitHub Actions sits between ::stop-commands:: markers, so the runner does not execute it."""
    write(tmp_path, {"::add-mask::x/Dockerfile": "FROM ##[add-mask]Python:3\n"})
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["GITHUB_ACTIONS"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--offline", "."],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    start = lines[0]
    assert start.startswith("::stop-commands::") and len(start) > len("::stop-commands::") + 16
    token = start.removeprefix("::stop-commands::")
    assert lines[-1] == f"::{token}::"
    assert any("::add-mask::x/Dockerfile" in line for line in lines[1:-1])
    github = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--offline", "--format", "github", "."],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert "::stop-commands::" not in github.stdout and github.stdout.startswith("::error")
