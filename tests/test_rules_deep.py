"""PF213 and PF214 on hand-built ``--deep`` facts: which platform's damage is reported where, the disk
sum (each layer once, layers the engine has by diff ID not counted), error vs warning vs silence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import preflight.rules.deep as rules
from preflight.cli import cli
from preflight.cliopts import CommandLine, settings_options
from preflight.config import RULE_SETTINGS, SETTINGS, Config, ConfigError, load_config, rule_flags
from preflight.engine import RuleContext, RuleOptions, Selection, evaluate
from preflight.facts import Damage, EngineFacts, ImageFacts, LocalImage, PlatformImage, Status
from preflight.imageref import ImageRef
from preflight.model import Document, ImageUse, Level, Location, Summary, UseKind
from preflight.resolve import resolve_documents
from preflight.rulebook import get_rule

GB = 1_000_000_000


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def use(written: str, line: int, platform: str | None = None) -> ImageUse:
    return ImageUse(UseKind.FROM, Location("Dockerfile", line, 6), written, written, platform=platform)


def facts(ref: str, *images: PlatformImage, damage: tuple[Damage, ...] = ()) -> tuple[str, ImageFacts]:
    key = ImageRef.parse(ref).canonical
    return key, ImageFacts(key, Status.OK, "reg.example", deep=images, damage=damage)


def image(platform: str, *layers: tuple[int, int]) -> PlatformImage:
    """Layers as (number, size): digest n, diff ID n + 1000."""
    return PlatformImage(
        platform,
        digest(999),
        tuple(digest(n) for n, _ in layers),
        tuple(size for _, size in layers),
        tuple(digest(n + 1000) for n, _ in layers),
    )


def engine(free: int | None, *held: LocalImage) -> EngineFacts:
    return EngineFacts(
        "unix:///run/docker.sock",
        "default socket",
        True,
        images={i.reference: i for i in held},
        data_root="/var/lib/docker",
        free_space=free,
        free_space_unknown="" if free is not None else "the engine runs on another machine",
    )


def run(
    uses: list[ImageUse], known: dict[str, ImageFacts], eng: EngineFacts | None = None, disk_margin: int | None = None
) -> list[tuple[int, str, Level, str]]:
    doc = Document("Dockerfile", "dockerfile", uses=tuple(uses))
    options = {} if disk_margin is None else {rules.DISK_MARGIN.key: disk_margin}
    ctx = RuleContext(RuleOptions(options), known, eng)
    report = evaluate(resolve_documents([doc]), Selection(select=("PF213", "PF214")), ctx, Summary())
    return [(f.location.line, f.rule, f.level, f.message) for f in report.findings]


def test_damage_of_a_platform_is_reported_where_that_platform_is_used() -> None:
    broken = Damage("linux/arm64", "layer", "missing", digest(7), 28_400_000, 3, 7)
    known = dict([facts("reg.example/app:1", damage=(broken,))])
    uses = [use("reg.example/app:1", 1, "linux/arm64"), use("reg.example/app:1", 2, "linux/amd64")]
    assert run(uses, known) == [
        (
            1,
            "PF213",
            Level.ERROR,
            f"reg.example/app:1: layer sha256:{'0' * 12}… (3 of 7, 28.4 MB) of linux/arm64 is missing from the "
            "registry: the image was pushed incompletely or garbage-collected; re-push the tag",
        )
    ]


def test_sizes_are_decimal_units() -> None:
    assert [rules.size_text(n) for n in (0, 999, 1000, 28_400_000, 3 * GB)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "28.4 MB",
        "3.0 GB",
    ]


def test_the_pull_is_summed_once_per_layer_without_the_layers_the_engine_has() -> None:
    base = image("linux/amd64", (1, 3 * GB), (2, 1 * GB))  # layer 1 is shared with app
    app = image("linux/amd64", (1, 3 * GB), (3, 2 * GB))
    held = LocalImage("reg.example/other:1", "sha256:x", "linux/amd64", layers=(digest(1003),))  # has layer 3
    known = dict(
        [
            facts("reg.example/base:1", base),
            facts("reg.example/app:1", app),
            facts("reg.example/other:1", image("linux/amd64", (9, 50 * GB))),
        ]
    )
    ctx = RuleContext(RuleOptions(), known, engine(100 * GB, held))
    assert rules.pull_size(ctx) == (4 * GB, 2)  # layers 1 and 2; 3 is held, "other" is held
    other_image = replace(engine(100 * GB, held), layers=(digest(1002),))  # an image not named holds layer 2
    assert rules.pull_size(replace(ctx, engine=other_image)) == (3 * GB, 2)


def test_a_pull_that_cannot_fit_is_an_error_once() -> None:
    known = dict(
        [
            facts("reg.example/base:1", image("linux/amd64", (1, 3 * GB))),
            facts("reg.example/app:1", image("linux/amd64", (2, 2 * GB))),
        ]
    )
    uses = [use("reg.example/base:1", 1), use("reg.example/app:1", 2)]
    assert run(uses, known, engine(4 * GB)) == [
        (
            1,
            "PF214",
            Level.ERROR,
            "the 2 images the engine at unix:///run/docker.sock does not hold download 5.0 GB of compressed layers, "
            "but its data root /var/lib/docker has 4.0 GB free: the pull fails with 'no space left on device'; free "
            "space (docker system prune, docker builder prune) or pull fewer images on this machine",
        )
    ]


def test_a_pull_inside_the_margin_is_a_warning_and_a_wide_margin_is_silent() -> None:
    known = dict([facts("reg.example/app:1", image("linux/amd64", (1, 3 * GB)))])
    uses = [use("reg.example/app:1", 1)]
    (found,) = run(uses, known, engine(4 * GB), disk_margin=2 * GB)
    assert found[:3] == (1, "PF214", Level.WARNING)
    assert "leaves 1.0 GB, less than the margin of 2.0 GB" in found[3]
    assert run(uses, known, engine(4 * GB), disk_margin=GB // 2) == []


def test_unknown_free_space_no_engine_or_no_deep_facts_say_nothing() -> None:
    known = dict([facts("reg.example/app:1", image("linux/amd64", (1, 3 * GB)))])
    uses = [use("reg.example/app:1", 1)]
    assert run(uses, known, engine(None)) == []
    assert run(uses, known, None) == []
    shallow = {k: ImageFacts(k, Status.OK, "reg.example") for k in known}
    assert run(uses, shallow, engine(1)) == []


def test_disk_margin_setting(tmp_path: Path) -> None:
    (tmp_path / ".preflight.yaml").write_text("disk-margin: 500MB\n", encoding="utf-8")
    assert load_config(tmp_path, environ={"HOME": str(tmp_path)}).value(rules.DISK_MARGIN) == 500_000_000
    (tmp_path / ".preflight.yaml").write_text("disk-margin: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="disk-margin"):
        load_config(tmp_path, environ={"HOME": str(tmp_path)})


def test_disk_margin_is_an_option_pf214_declares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PF214 declares disk-margin beside its check (rules/deep.py), as PF104 does trusted-registries: the
    one settings table, .preflight.yaml, [tool.preflight], the --disk-margin flag, the messages and the
    rule's context all take it from that declaration; Config has no field of its own for it."""
    assert rules.DISK_MARGIN in RULE_SETTINGS and rules.DISK_MARGIN in SETTINGS
    assert get_rule("PF214").options == (rules.DISK_MARGIN,)  # type: ignore[union-attr]
    assert "disk_margin" not in Config.__dataclass_fields__ and "disk-margin" in rule_flags()
    assert RuleOptions()[rules.DISK_MARGIN] == 2 << 30  # unset: the option's default, 2 GiB
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    yaml, pyproject = tmp_path / ".preflight.yaml", tmp_path / "pyproject.toml"

    def load(text: str, file: Path = yaml) -> Config:
        file.write_text(text, encoding="utf-8")
        try:
            return load_config(tmp_path)
        finally:
            file.unlink()

    def error(text: str, file: Path = yaml) -> str:
        with pytest.raises(ConfigError) as info:
            load(text, file)
        return str(info.value)

    assert load("disk-margin: 3GB\n").rule_options == {"disk-margin": 3 * GB}
    assert load('[tool.preflight]\ndisk-margin = "500MB"\n', pyproject).value(rules.DISK_MARGIN) == 500_000_000
    assert load("[tool.preflight]\ndisk-margin = 1073741824\n", pyproject).value(rules.DISK_MARGIN) == 1 << 30
    expected = "disk-margin: expected a size in bytes such as 2GiB, 500MB or 1073741824, got 'lots'"
    assert error("deep: true\ndisk-margin: lots\n") == f".preflight.yaml:2: {expected}"
    assert (
        error('[tool.preflight]\ndisk-margin = "lots"\n', pyproject) == f"pyproject.toml: [tool.preflight].{expected}"
    )

    # The command line: check's flag, through the same option declaration (cliopts.settings_options).
    seen: list[Config] = []

    @click.command()
    @settings_options("disk-margin")
    def probe(cmdline: CommandLine) -> None:
        seen.append(cmdline.load())

    yaml.write_text("disk-margin: 500MB\n", encoding="utf-8")
    assert CliRunner().invoke(probe, []).exit_code == 0
    assert CliRunner().invoke(probe, ["--disk-margin", "2GiB"]).exit_code == 0  # the flag wins over the file
    assert [c.value(rules.DISK_MARGIN) for c in seen] == [500_000_000, 2 << 30]
    known = dict([facts("reg.example/app:1", image("linux/amd64", (1, 3 * GB)))])
    uses = [use("reg.example/app:1", 1)]  # 3 GB to pull into 4 GB free: leaves 1 GB
    assert run(uses, known, engine(4 * GB), seen[0].value(rules.DISK_MARGIN)) == []
    (found,) = run(uses, known, engine(4 * GB), seen[1].value(rules.DISK_MARGIN))
    assert found[2] == Level.WARNING and "less than the margin of 2.1 GB" in found[3]
    assert "--disk-margin SIZE" in CliRunner().invoke(cli, ["check", "--help"]).output
    bad = CliRunner().invoke(cli, ["check", "--offline", "--deep", "--disk-margin", "lots"])
    assert bad.exit_code == 2 and f"--{expected}" in bad.output
