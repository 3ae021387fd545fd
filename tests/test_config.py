"""Configuration loading: search, file formats, every key's validation, CLI merging."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from preflight import engine
from preflight.config import Config, ConfigError, RegistryConfig, load_config, merge_cli
from preflight.model import Level

TEST_IDS = ("PF101", "PF102", "PF103", "PF201")


@pytest.fixture(autouse=True)
def known_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The IDs these tests use exist, whichever rule modules are written yet."""
    engine.all_rules()
    for rid in TEST_IDS:
        if rid not in engine.RULES:
            rule = engine.Rule(rid, f"test-{rid.lower()}", "test rule", Level.WARNING, None)
            monkeypatch.setitem(engine.RULES, rid, rule)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, name: str = ".preflight.yaml") -> str:
    write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    return str(info.value)


FULL_YAML = """\
select: [PF1, pf201]
ignore: [PF103]
rules: {PF102: error, PF103: warning, PF101: off}
trusted-registries: [ghcr.io, "*.example.com"]
build-args: {PYTHON_VERSION: "3.12", UID: 1000}
exclude: ["vendor/**", "*.dev.yaml"]
fail-level: note
offline: true
platforms: [linux/amd64, linux/arm64/v8]
registries:
  localhost:5000: {insecure: true, endpoint: "http://127.0.0.1:5000/"}
  docker.io: {mirrors: ["https://mirror.gcr.io"]}
  registry.example.com: {ca-file: certs/ca.pem}
daemon-json: etc/daemon.json
cache-ttl: 60
cache-negative-ttl: 0
timeout: 2.5
"""

FULL_TOML = """\
[project]
name = "x"

[tool.preflight]
select = ["PF1", "pf201"]
ignore = ["PF103"]
rules = { PF102 = "error", PF103 = "warning", PF101 = "off" }
trusted-registries = ["ghcr.io", "*.example.com"]
build-args = { PYTHON_VERSION = "3.12", UID = 1000 }
exclude = ["vendor/**", "*.dev.yaml"]
fail-level = "note"
offline = true
platforms = ["linux/amd64", "linux/arm64/v8"]
daemon-json = "etc/daemon.json"
cache-ttl = 60
cache-negative-ttl = 0
timeout = 2.5

[tool.preflight.registries."localhost:5000"]
insecure = true
endpoint = "http://127.0.0.1:5000/"

[tool.preflight.registries."docker.io"]
mirrors = ["https://mirror.gcr.io"]

[tool.preflight.registries."registry.example.com"]
ca-file = "certs/ca.pem"
"""


def expected_full(root: Path, source: Path) -> Config:
    return Config(
        select=("PF1", "PF201"),
        ignore=("PF103",),
        levels={"PF102": Level.ERROR, "PF103": Level.WARNING, "PF101": Level.OFF},
        rule_options={"trusted-registries": ("ghcr.io", "*.example.com")},
        build_args={"PYTHON_VERSION": "3.12", "UID": "1000"},
        exclude=("vendor/**", "*.dev.yaml"),
        fail_level=Level.NOTE,
        offline=True,
        platforms=("linux/amd64", "linux/arm64/v8"),
        registries={
            "localhost:5000": RegistryConfig(insecure=True, endpoint="http://127.0.0.1:5000"),
            "docker.io": RegistryConfig(mirrors=("https://mirror.gcr.io",)),
            "registry.example.com": RegistryConfig(ca_file=str(root / "certs" / "ca.pem")),
        },
        daemon_json=str(root / "etc" / "daemon.json"),
        cache_ttl=60,
        cache_negative_ttl=0,
        timeout=2.5,
        source=str(source),
        root=str(root),
    )


# ----------------------------------------------------------------- finding the file


def test_no_config_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == Config()
    assert Config().fail_level is Level.WARNING


def test_every_key_from_yaml(tmp_path: Path) -> None:
    source = write(tmp_path / ".preflight.yaml", FULL_YAML)
    assert load_config(tmp_path) == expected_full(tmp_path, source)


def test_every_key_from_pyproject(tmp_path: Path) -> None:
    source = write(tmp_path / "pyproject.toml", FULL_TOML)
    assert load_config(tmp_path) == expected_full(tmp_path, source)


def test_search_goes_upward_and_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    source = write(tmp_path / ".preflight.yml", "registries: {r.example: {ca-file: ca.pem}}\n")
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    config = load_config(cwd)
    assert config.source == str(source)
    assert config.root == str(tmp_path)
    assert config.registries["r.example"].ca_file == str(tmp_path / "ca.pem")


def test_nearest_directory_wins(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "offline: true\n")
    near = write(tmp_path / "sub" / "pyproject.toml", "[tool.preflight]\ntimeout = 5\n")
    config = load_config(tmp_path / "sub")
    assert (config.source, config.offline, config.timeout) == (str(near), False, 5.0)


def test_pyproject_without_section_does_not_stop_the_search(tmp_path: Path) -> None:
    top = write(tmp_path / ".preflight.yaml", "offline: true\n")
    write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'pkg'\n[tool.ruff]\nline-length = 100\n")
    config = load_config(tmp_path / "pkg")
    assert (config.source, config.offline) == (str(top), True)


def test_precedence_within_one_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.preflight]\ntimeout = 1\n")
    write(tmp_path / ".preflight.yml", "timeout: 2\n")
    assert load_config(tmp_path).timeout == 2.0
    write(tmp_path / ".preflight.yaml", "timeout: 3\n")
    assert load_config(tmp_path).timeout == 3.0


def test_explicit_file_overrides_the_search(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "offline: true\n")
    other = write(tmp_path / "ci" / "strict.yaml", "fail-level: error\ndaemon-json: d.json\n")
    config = load_config(tmp_path, Path("ci/strict.yaml"))
    assert (config.source, config.root, config.offline, config.fail_level) == (
        str(other), str(tmp_path / "ci"), False, Level.ERROR,
    )  # fmt: skip
    assert config.daemon_json == str(tmp_path / "ci" / "d.json")


def test_explicit_toml_files(tmp_path: Path) -> None:
    write(tmp_path / "preflight.toml", "offline = true\n[registries.'ghcr.io']\ninsecure = false\n")
    config = load_config(tmp_path, tmp_path / "preflight.toml")
    assert config.offline is True and config.registries == {"ghcr.io": RegistryConfig()}
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: no \[tool\.preflight\] table"):
        load_config(tmp_path, Path("pyproject.toml"))


def test_explicit_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path, Path("nope.yaml"))
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path, Path("."))


def test_empty_file_is_an_empty_configuration(tmp_path: Path) -> None:
    source = write(tmp_path / ".preflight.yaml", "# nothing yet\n")
    assert load_config(tmp_path) == Config(source=str(source), root=str(tmp_path))


def test_absolute_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / ".preflight.yaml", "daemon-json: /etc/docker/daemon.json\nregistries: {h: {ca-file: ~/ca.pem}}\n")
    config = load_config(tmp_path)
    assert config.daemon_json == "/etc/docker/daemon.json"
    assert config.registries["h"].ca_file == str(tmp_path / "home" / "ca.pem")


def test_fail_level_none(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "fail-level: none\n")
    assert load_config(tmp_path).fail_level is Level.OFF


def test_bare_off_in_yaml_means_off(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "rules:\n  PF101: off\n  PF102: 'off'\n  pf103: Note\n")
    assert load_config(tmp_path).levels == {"PF101": Level.OFF, "PF102": Level.OFF, "PF103": Level.NOTE}


# ----------------------------------------------------------------- errors


def test_unknown_keys_name_key_file_and_line(tmp_path: Path) -> None:
    assert (
        error_of(tmp_path, "offline: true\nselct: [PF1]\n")
        == ".preflight.yaml:2: unknown key 'selct' (did you mean 'select'?)"
    )
    message = error_of(tmp_path, "fail_level: error\n")
    assert message == ".preflight.yaml:1: unknown key 'fail_level' (did you mean 'fail-level'? keys are kebab-case)"
    message = error_of(tmp_path, "registries:\n  ghcr.io:\n    insecure: true\n    cafile: x.pem\n")
    assert message == ".preflight.yaml:4: unknown key 'cafile' (did you mean 'ca-file'?) in registries.ghcr.io"
    (tmp_path / ".preflight.yaml").unlink()
    message = error_of(tmp_path, "[tool.preflight]\nverbose = true\n", "pyproject.toml")
    assert message == "pyproject.toml: unknown key 'verbose' in [tool.preflight]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select: PF1", ":1: select: expected a list of strings, got a string"),
        ("select: [1]", ":1: select: expected a list of strings, found an integer"),
        ("ignore: {PF1: x}", ":1: ignore: expected a list of strings, got a mapping"),
        ("ignore: ['']", ":1: ignore: expected a list of strings, found an empty string"),
        ("rules: [PF101]", ":1: rules: expected a mapping of rule ID to level, got a list"),
        ("rules: {PF101: loud}", ":1: rules: PF101: unknown level 'loud'"),
        ("rules: {PF101: 1}", ":1: rules: PF101: expected error, warning, note or off, got 1"),
        ("rules: {PF101: true}", ":1: rules: PF101: expected error, warning, note or off, got True"),
        ("trusted-registries: ghcr.io", ":1: trusted-registries: expected a list of strings"),
        ("build-args: [A=1]", ":1: build-args: expected a mapping of names to strings, got a list"),
        ("build-args: {V: 3.10}", ":1: build-args: value of V must be a string, got a number (quote it"),
        ("build-args: {V: true}", ":1: build-args: value of V must be a string, got a boolean"),
        ("build-args: {V: }", ":1: build-args: value of V must be a string, got nothing"),
        ("build-args: {1: x}", ":1: build-args: names must be strings, got 1"),
        ("exclude: vendor", ":1: exclude: expected a list of strings, got a string"),
        ("exclude: ['!vendor']", ":1: exclude: exclude pattern '!vendor': negation ('!') is not supported"),
        ("fail-level: fatal", ":1: fail-level: expected error, warning, note or none, got 'fatal'"),
        ("fail-level: yes", ":1: fail-level: expected error, warning, note or none, got True"),
        ("fail-level: fatal", ":1: fail-level: expected error, warning, note or none, got 'fatal'"),
        ("fail-level: 1", ":1: fail-level: expected error, warning, note or none, got 1"),
        ("offline: 'yes please'", ":1: offline: expected true or false, got a string"),
        ("offline: 1", ":1: offline: expected true or false, got an integer"),
        ("platforms: linux/amd64", ":1: platforms: expected a list of strings, got a string"),
        ("platforms: [linux]", ":1: platforms: 'linux' is not os/arch[/variant]"),
        ("platforms: [linux/arm64/v8/x]", ":1: platforms: 'linux/arm64/v8/x' is not os/arch[/variant]"),
        ("registries: [ghcr.io]", ":1: registries: expected a mapping of registry host to settings, got a list"),
        ("registries: {ghcr.io: true}", ":1: registries.ghcr.io: expected a mapping, got a boolean"),
        ("registries:\n  10:30: {}", ":2: registries.630: a registry host must be a string (quote it)"),
        ("registries: {h: {mirrors: https://m}}", ":1: registries.h.mirrors: expected a list of strings"),
        ("registries: {h: {mirrors: [m.example]}}", ":1: registries.h.mirrors: expected an http:// or https:// URL, got 'm.example'"),
        ("registries: {h: {insecure: 'true'}}", ":1: registries.h.insecure: expected true or false, got a string"),
        ("registries: {h: {ca-file: [a]}}", ":1: registries.h.ca-file: expected a file path, got a list"),
        ("registries: {h: {endpoint: 'ftp://x'}}", ":1: registries.h.endpoint: expected an http:// or https:// URL, got 'ftp://x'"),
        ("daemon-json: 5", ":1: daemon-json: expected a file path, got an integer"),
        ("cache-ttl: -1", ":1: cache-ttl: expected a whole number of seconds >= 0, got -1"),
        ("cache-ttl: 1.5", ":1: cache-ttl: expected a whole number of seconds >= 0, got 1.5"),
        ("cache-negative-ttl: true", ":1: cache-negative-ttl: expected a whole number of seconds >= 0, got True"),
        ("timeout: 0", ":1: timeout: expected a number of seconds > 0, got 0"),
        ("timeout: '5'", ":1: timeout: expected a number of seconds > 0, got '5'"),
        ("timeout: .nan", ":1: timeout: expected a number of seconds > 0, got nan"),
    ],
)  # fmt: skip
def test_wrong_types_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text + "\n").startswith(".preflight.yaml" + expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select = 'PF1'", "pyproject.toml: [tool.preflight].select: expected a list of strings, got a string"),
        ("timeout = false", "pyproject.toml: [tool.preflight].timeout: expected a number of seconds > 0, got False"),
        ("registries = { h = { insecure = 1 } }", "pyproject.toml: [tool.preflight].registries.h.insecure: expected true or false"),
    ],
)  # fmt: skip
def test_wrong_types_in_pyproject(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, f"[tool.preflight]\n{text}\n", "pyproject.toml").startswith(expected)


def test_unknown_rule_ids(tmp_path: Path) -> None:
    assert error_of(tmp_path, "select: [PF9]\n").startswith(
        ".preflight.yaml:1: select: unknown rule ID or prefix 'PF9'"
    )
    assert error_of(tmp_path, "ignore: [PF1O2]\n").startswith(
        ".preflight.yaml:1: ignore: unknown rule ID or prefix 'PF1O2' (did you mean PF10"
    )
    assert error_of(tmp_path, "rules: {PF1: error}\n").startswith(".preflight.yaml:1: rules: unknown rule ID 'PF1'")
    assert error_of(tmp_path, "rules: {PF999: off}\n").startswith(".preflight.yaml:1: rules: unknown rule ID 'PF999'")


def test_prefixes_are_accepted_in_select_and_ignore(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "select: [pf, PF1, PF1]\nignore: [PF2]\n")
    config = load_config(tmp_path)
    assert (config.select, config.ignore) == (("PF", "PF1"), ("PF2",))


def test_invalid_yaml_gives_file_and_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, "offline: true\nselect: [PF1\nignore: []\n").startswith(
        ".preflight.yaml:3: invalid YAML:"
    )
    assert error_of(tmp_path, "a: 1\n\ttimeout: 2\n").startswith(".preflight.yaml:2: invalid YAML:")
    assert (
        error_of(tmp_path, "offline: true\noffline: false\n")
        == ".preflight.yaml:2: invalid YAML: duplicate key 'offline'"
    )
    assert error_of(tmp_path, "x: !!python/name:os.system\n").startswith(".preflight.yaml:1: invalid YAML:")
    assert error_of(tmp_path, "[PF101]\n") == ".preflight.yaml: expected a mapping of settings, got a list"


@pytest.mark.parametrize("depth", [300, 10_000])
def test_deep_yaml_is_preflights_nesting_error_not_a_crash(tmp_path: Path, depth: int) -> None:
    # PyYAML's Python composer recursed into RecursionError (an internal error) from about 330 levels.
    text = "exclude: " + "[" * depth + "]" * depth + "\n"
    assert error_of(tmp_path, text) == ".preflight.yaml:1: YAML nested deeper than 200 levels"


def test_invalid_toml_gives_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[tool.preflight]\noffline = true\ntimeout = \n", "pyproject.toml")
    assert message.startswith("pyproject.toml:3: invalid TOML: ")
    assert "(at line" not in message
    (tmp_path / "pyproject.toml").write_text("[tool]\npreflight = 3\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: \[tool\.preflight\] must be a table, got an integer"):
        load_config(tmp_path)


def test_undecodable_file(tmp_path: Path) -> None:
    (tmp_path / ".preflight.yaml").write_bytes(b"offline: true\nselect: [\xff]\n")
    with pytest.raises(ConfigError, match=r"^\.preflight\.yaml:2: cannot read config file: invalid UTF-8"):
        load_config(tmp_path)


def test_error_paths_are_relative_to_cwd(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "bogus: 1\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "sub")
    assert str(info.value).startswith(f"{tmp_path.as_posix()}/.preflight.yaml:1: unknown key 'bogus'")
    with pytest.raises(ConfigError, match=r"^\.preflight\.yaml:1: unknown key 'bogus'"):
        load_config(tmp_path)


# ----------------------------------------------------------------- merge_cli


def test_merge_cli_applies_given_values(tmp_path: Path) -> None:
    write(tmp_path / ".preflight.yaml", "select: [PF1]\nignore: [PF103]\nbuild-args: {A: '1', B: '2'}\n"
          "exclude: [vendor]\nplatforms: [linux/amd64]\n")  # fmt: skip
    base = load_config(tmp_path)
    merged = merge_cli(
        base, select=["pf102"], ignore=("PF101",), build_args={"B": "3", "C": "4"}, exclude=["*.dev.yaml"],
        fail_level="error", offline=True, platforms=["linux/arm64"], timeout=5,
    )  # fmt: skip
    assert merged == Config(
        select=("PF102",),
        ignore=("PF101",),  # --select is the basis: the configuration's ignore is dropped (ruff's precedence)
        build_args={"A": "1", "B": "3", "C": "4"},
        cli_build_args={"B": "3", "C": "4"},
        exclude=("vendor", "*.dev.yaml"),
        fail_level=Level.ERROR,
        offline=True,
        platforms=("linux/amd64", "linux/arm64"),
        timeout=5.0,
        source=base.source,
        root=base.root,
    )
    assert base.select == ("PF1",)  # the original is untouched


def test_merge_cli_none_means_not_given() -> None:
    config = Config(select=("PF1",), offline=True, fail_level=Level.NOTE, build_args={"A": "1"})
    assert merge_cli(config, select=None, ignore=None, build_args=None, exclude=None, fail_level=None,
                     offline=None, platforms=None, timeout=None) == config  # fmt: skip
    assert merge_cli(config, offline=False).offline is False
    assert merge_cli(config, fail_level=Level.WARNING).fail_level is Level.WARNING
    assert merge_cli(config, fail_level=Level.OFF).fail_level is Level.OFF  # the CLI's --fail-level none
    assert merge_cli(config, fail_level="None").fail_level is Level.OFF
    assert merge_cli(config, levels={"PF102": "note"}).levels == {"PF102": Level.NOTE}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("select", ["PF9"], "--select: unknown rule ID or prefix 'PF9'"),
        ("ignore", [""], "--ignore: expected a list of strings, found an empty string"),
        ("fail_level", "fatal", "--fail-level: expected error, warning, note or none, got 'fatal'"),
        ("platforms", ["amd64"], "--platform: 'amd64' is not os/arch[/variant]"),
        ("exclude", ["!x"], "--exclude: exclude pattern '!x': negation"),
        ("timeout", -1, "--timeout: expected a number of seconds > 0, got -1"),
        ("build_args", {"A": 1.5}, "--build-arg: value of A must be a string"),
    ],
)  # fmt: skip
def test_merge_cli_rejects_bad_values(option: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        merge_cli(Config(), **{option: value})
    assert str(info.value).startswith(message)


def test_merge_cli_unknown_option() -> None:
    with pytest.raises(TypeError, match="verbose"):
        merge_cli(Config(), verbose=True)


def test_cwd_may_be_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write(tmp_path / ".preflight.yaml", "offline: true\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("."))
    assert config.source == str(source) and os.path.isabs(config.root or "")


def test_fail_level_off_as_yaml_reads_it(tmp_path: Path) -> None:
    from preflight.config import load_config
    from preflight.model import Level

    (tmp_path / ".preflight.yaml").write_text("fail-level: off\n")
    assert load_config(tmp_path).fail_level is Level.OFF


# ----------------------------------------------------------------- concurrency (issue 13, speed)


def test_concurrency_key_and_option(tmp_path: Path) -> None:
    assert Config().concurrency == 32
    write(tmp_path / ".preflight.yaml", "concurrency: 8\n")
    config = load_config(tmp_path)
    assert config.concurrency == 8
    assert merge_cli(config, concurrency=64).concurrency == 64


@pytest.mark.parametrize("value", ["0", "257", "2.5", "true", "many"])
def test_concurrency_out_of_range_or_not_a_count_is_named(tmp_path: Path, value: str) -> None:
    message = error_of(tmp_path, f"concurrency: {value}\n")
    assert ".preflight.yaml:1: concurrency" in message and "1 to 256" in message
    with pytest.raises(ConfigError, match="--concurrency"):
        merge_cli(Config(), concurrency=0)


# ----------------------------------------------------------------- one YAML reader (yamlpos) for config files


def test_yaml_values_are_read_as_pyyamls_safe_loader_reads_them(tmp_path: Path) -> None:
    """Config files go through yamlpos (the reader compose files use) and become the values PyYAML's
    safe loader gives: YAML 1.1 scalars, ``<<`` merges (own keys win; the first merged mapping wins)."""
    import yaml

    text = (
        "anchors: &a {x: 1, y: 2}\nother: &b {x: 3, z: 4}\nmerged:\n  <<: [*a, *b]\n  y: 5\n"
        "scalars: [off, yes, 3.10, '3.10', ~, 0x1f, 1_000, !!str 5, ! 6, 2001-12-14]\n"
        "blocks:\n  lit: |\n    a\n    b\n  fold: >\n    c\n    d\n"
    )
    from preflight.config.files import Where, read

    path = write(tmp_path / "x.yaml", text)
    got = read(path, Where(path, tmp_path), require_table=True)
    assert got == yaml.safe_load(text)
    assert got["merged"] == {"x": 1, "y": 5, "z": 4}
    assert got.lines == {"anchors": 1, "other": 2, "merged": 3, "scalars": 6, "blocks": 7}


def test_yaml_problems_keep_file_and_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, "offline: true\n---\noffline: false\n") == (
        ".preflight.yaml:3: invalid YAML: expected a single document in the stream"
    )
    assert error_of(tmp_path, "offline: true\nexclude: !custom [x]\n").startswith(
        ".preflight.yaml:2: invalid YAML: could not determine a constructor for the tag '!custom'"
    )
    assert (
        error_of(tmp_path, "offline: true\n? [a]\n: 1\n")
        == ".preflight.yaml:2: invalid YAML: a key must be a plain value"
    )
    assert error_of(tmp_path, "a: 1\nb:\n  <<: 3\n").startswith(".preflight.yaml:3: invalid YAML: expected a mapping")
    assert error_of(tmp_path, "timeout: !!int ten\n").startswith(".preflight.yaml:1: invalid YAML:")
    assert error_of(tmp_path, "x: &x [*x]\n").startswith(
        ".preflight.yaml:1: alias *x refers to a node that contains it"
    )


# ----------------------------------------------------------------- options declared by rules


def test_a_rules_option_is_a_key_of_the_one_table(tmp_path: Path) -> None:
    """PF104 declares trusted-registries beside its check; the table, the files, the command line
    (merge_cli) and the rule context all take it from there."""
    from preflight.config import RULE_SETTINGS, SETTINGS
    from preflight.engine import RuleOptions
    from preflight.rules.offline import TRUSTED_REGISTRIES

    assert TRUSTED_REGISTRIES in RULE_SETTINGS and TRUSTED_REGISTRIES in SETTINGS
    assert engine.get_rule("PF104").options == (TRUSTED_REGISTRIES,)  # type: ignore[union-attr]
    write(tmp_path / ".preflight.yaml", "trusted-registries: [ghcr.io]\n")
    config = load_config(tmp_path)
    assert config.rule_options == {"trusted-registries": ("ghcr.io",)}
    merged = merge_cli(config, **{"trusted-registries": ["quay.io"]})
    assert merged.value(TRUSTED_REGISTRIES) == ("ghcr.io", "quay.io")  # the setting's combine: append
    assert RuleOptions(merged.rule_options)[TRUSTED_REGISTRIES] == ("ghcr.io", "quay.io")
    assert RuleOptions()[TRUSTED_REGISTRIES] == ()  # unset: the option's default
    assert error_of(tmp_path, "trusted-registries: ghcr.io\n") == (
        ".preflight.yaml:1: trusted-registries: expected a list of strings, got a string"
    )


def test_config_validates_without_importing_the_engine() -> None:
    """config reads rule IDs and the rules' options from the rule book; the evaluation engine is not
    imported by loading the configuration (issue 10.3)."""
    import subprocess
    import sys

    code = (
        "import sys, preflight.config as c; from pathlib import Path;"
        "c.merge_cli(c.Config(), select=['PF1']);"
        "print('preflight.engine' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
