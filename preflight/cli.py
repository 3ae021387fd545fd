"""The command line: ``preflight check``, ``images``, ``rules``, ``rule``. Thin: parse options,
call the pipeline, render, pick the exit code. What the commands share around that (usage errors, the
configuration, outputs, progress, the exit code) is ``clisupport``; the options they share, ``cliopts``.

Exit codes: 0 nothing at or above the fail level; 1 findings at or above it; 2 usage,
configuration, I/O or internal error (never masked by ``--exit-zero``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from . import __version__
from .cliopts import (
    CommandLine,
    common_paths,
    debug_option,
    no_credentials_option,
    output_options,
    registry_options,
    settings_options,
    untrusted_option,
)
from .clisupport import (
    LogProgress,
    Progress,
    UsageProblem,
    append,
    debug_logging,
    exit_code,
    load_config,
    output_targets,
    require_paths,
    say_if_nothing_found,
    untrusted_mode,
    write,
)
from .config import Config, rule_flags
from .safetext import inert_in_actions, visible


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="preflight")
def cli() -> None:
    """Catch broken container image references before a build starts."""


# Which settings each command takes from the command line (config.SETTINGS rows with a flag).
READ_SETTINGS = ("build-args", "build-contexts", "exclude", "allow-env")  # how the project's files are read
CHECK_SETTINGS = (
    "select", "extend-select", "ignore", *READ_SETTINGS, "platforms", "fail-level", "offline", "timeout",
    "concurrency", "deep", "engine", *rule_flags(),
)  # fmt: skip
# (a rule's option with a flag is check's without a change here: rule_flags)
FIX_SETTINGS = (*READ_SETTINGS, "platforms", "timeout")
IMAGES_SETTINGS = (*READ_SETTINGS, "deep", "platforms", "engine")


@cli.command()
@common_paths
@output_options
@settings_options(*CHECK_SETTINGS)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings (errors running still exit 2).")
@click.option(
    "--fail-on-unchecked/--no-fail-on-unchecked",
    default=True,
    help="Whether PF208/PF209 (a registry that could not be asked) count for the exit status (default: they do;"
    " the pre-commit hook passes --no-fail-on-unchecked).",
)
@registry_options
@untrusted_option
@click.option("--color/--no-color", default=None, help="Color text output (default: when stdout is a terminal).")
@debug_option
def check(
    paths: tuple[str, ...],
    formats: tuple[str, ...],
    output: str | None,
    output_sarif: str | None,
    output_json: str | None,
    output_gitlab: str | None,
    cmdline: CommandLine,
    exit_zero: bool,
    fail_on_unchecked: bool,
    no_cache: bool,
    no_credentials: bool,
    allow_hosts: tuple[str, ...],
    strict_loopback: bool,
    untrusted: bool,
    color: bool | None,
    debug: bool,
) -> None:
    """Check Dockerfiles and compose files under PATHS (default: .)."""
    if debug:
        debug_logging()
    from . import pipeline
    from .engine import all_rules
    from .report import render

    require_paths(paths)
    untrusted = untrusted_mode(untrusted)
    outputs = output_targets(formats, output, output_sarif, output_json, output_gitlab)
    config = load_config(cmdline, untrusted)
    env = dict(os.environ)
    cwd = Path.cwd()
    loaded = pipeline.load(paths, config, cwd=cwd, environ=env, untrusted=untrusted)
    say_if_nothing_found(loaded, paths)
    machine = any(f not in ("text", "auto") for f in formats)
    progress: Progress | None = None
    if sys.stderr.isatty():
        progress = None if machine or debug else Progress()
    else:
        progress = LogProgress()  # CI logs: a line every few seconds while registries keep it waiting
    options = pipeline.RunOptions(
        environ=env,
        use_cache=not no_cache,
        use_credentials=not no_credentials,
        strict_loopback=strict_loopback,
        allow_hosts=allow_hosts,
        untrusted=untrusted,
        progress=progress,
    )
    checked = pipeline.check(loaded, config, options)
    report = checked.report
    if progress is not None:
        progress.clear()
    for warning in checked.warnings:
        click.echo(f"preflight: warning: {visible(warning)}", err=True)

    rules = all_rules()
    for fmt, target in outputs:
        use_color = (color if color is not None else sys.stdout.isatty()) and target is None
        rendered = render(report, fmt, rules=rules, color=use_color, cwd=cwd)
        if target is None and fmt != "github":  # the github format's own commands must stay live
            rendered = inert_in_actions(rendered, os.environ)
        write(rendered, target, use_color)
    if output and not any(fmt == "text" and target is None for fmt, target in outputs):
        from .report.text import summary_lines

        click.echo(f"preflight: {summary_lines(report)[0]}", err=True)  # -o FILE: the outcome still shows
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file and any(fmt == "github" for fmt, _ in outputs):
        # GitHub shows at most 10 annotations of each level per step: the full list goes here.
        append(render(report, "github-summary", rules=rules, cwd=cwd), summary_file)
    code = exit_code(report, config, exit_zero, fail_on_unchecked)
    if not fail_on_unchecked and code == 0 and exit_code(report, config, exit_zero, True):
        click.echo(
            "preflight: warning: a registry could not be asked (PF208/PF209); not failing because of"
            " --no-fail-on-unchecked",
            err=True,
        )
    sys.exit(code)


@cli.command()
@common_paths
@click.option("--pin", is_flag=True, help="Pin every pulled reference without a digest to the digest of its tag.")
@click.option(
    "--update-digests", is_flag=True, help="Move tag@digest pins whose tag moved (PF206) to the tag's digest."
)
@click.option("--dry-run", is_flag=True, help="Print a unified diff; change nothing.")
@settings_options(*FIX_SETTINGS)
@registry_options
@untrusted_option
@debug_option
def fix(
    paths: tuple[str, ...],
    pin: bool,
    update_digests: bool,
    dry_run: bool,
    cmdline: CommandLine,
    no_cache: bool,
    no_credentials: bool,
    allow_hosts: tuple[str, ...],
    strict_loopback: bool,
    untrusted: bool,
    debug: bool,
) -> None:
    """Apply what preflight knows to the files under PATHS: typo'd tags corrected (PF201),
    and with --pin / --update-digests references pinned by digest.

    Exit status: 0 nothing to change, 1 files changed (or would change, with --dry-run), 2 error."""
    if debug:
        debug_logging()
    from . import pipeline
    from .fix.plan import Options, corrected_references, plan
    from .fix.run import change_line, execute, listed_line, read_sources, shown_diff, summary_line

    require_paths(paths)
    untrusted = untrusted_mode(untrusted)
    config = load_config(cmdline, untrusted)
    if config.offline:
        raise UsageProblem(
            f"preflight fix needs the registries, but offline is set in {config.source or 'the configuration'}"
        )
    env = dict(os.environ)
    cwd = Path.cwd()
    loaded = pipeline.load(paths, config, cwd=cwd, environ=env, untrusted=untrusted)
    run = pipeline.RunOptions(
        environ=env,
        use_cache=not no_cache,
        use_credentials=not no_credentials,
        strict_loopback=strict_loopback,
        allow_hosts=allow_hosts,
        untrusted=untrusted,
        registry=True,
    )
    checked = pipeline.check(loaded, config, run)
    for warning in checked.warnings:
        click.echo(f"preflight: warning: {visible(warning)}", err=True)
    sources = read_sources(loaded.documents, cwd, paths)
    options = Options(pin=pin, update_digests=update_digests)
    edits = plan(loaded, checked.report, checked.facts, options, sources)
    corrected = corrected_references(edits) if pin else []
    if corrected and checked.lookup is not None:  # to pin a corrected tag in the same run, ask for its digest
        facts = {**checked.lookup(corrected), **checked.facts}
        edits = plan(loaded, checked.report, facts, options, sources)
    outcome = execute(edits, sources, dry_run=dry_run)
    say = (lambda line: click.echo(visible(line), err=True)) if dry_run else (lambda line: click.echo(visible(line)))
    if outcome.diff:
        click.echo(shown_diff(outcome.diff, os.environ), nl=False)
    for change in sorted(edits.changes, key=lambda c: (c.use.path, c.use.line, c.use.column)):
        say(change_line(change, dry_run))
    for item in sorted(edits.listed, key=lambda i: (i.location.path, i.location.line, i.location.column)):
        say(listed_line(item))
    for error in outcome.errors:
        click.echo(f"preflight: error: {visible(str(error))}", err=True)
    say(summary_line(edits, outcome, dry_run))
    if outcome.errors or any(item.error for item in edits.listed):
        sys.exit(2)
    sys.exit(1 if outcome.files else 0)


@cli.command()
@common_paths
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text")
@click.option("--unique", is_flag=True, help="Print each normalized reference once, one per line.")
@settings_options(*IMAGES_SETTINGS)
@click.option("--all", "include_built", is_flag=True, help="With --unique: include images compose builds (not pulled).")
@click.option(
    "--missing-locally",
    is_flag=True,
    help="Print each pulled reference the local engine does not hold, once (what CI must pull).",
)
@untrusted_option
@debug_option
def images(
    paths: tuple[str, ...],
    fmt: str,
    unique: bool,
    cmdline: CommandLine,
    include_built: bool,
    missing_locally: bool,
    untrusted: bool,
    debug: bool,
) -> None:
    """List every image reference found under PATHS."""
    from . import pipeline
    from .report.images import image_rows, render_images, render_references

    if debug:
        debug_logging()
    require_paths(paths)
    untrusted = untrusted_mode(untrusted)
    config = load_config(cmdline, untrusted)
    loaded = pipeline.load(paths, config, cwd=Path.cwd(), environ=dict(os.environ), untrusted=untrusted)
    say_if_nothing_found(loaded, paths)
    subjects = list(loaded.all_subjects())
    if missing_locally:
        pulled = sorted({s.ref.canonical for s in subjects if s.ref is not None and s.use.pull})
        click.echo(render_references(_missing_locally(pulled, config), fmt, "missing"), nl=False)
    elif unique:
        refs = {s.ref.canonical for s in subjects if s.ref is not None and (s.use.pull or include_built)}
        click.echo(render_references(sorted(refs), "text", "images"), nl=False)
    elif fmt == "json" and config.deep and not config.offline:
        options = pipeline.RunOptions(environ=dict(os.environ), untrusted=untrusted, registry=True)
        sizes = pipeline.downloads(pipeline.check(loaded, config, options).facts)
        click.echo(render_images(image_rows(subjects), fmt, sizes), nl=False)
    else:
        click.echo(render_images(image_rows(subjects), fmt), nl=False)


def _missing_locally(refs: list[str], config: Config) -> list[str]:
    """The references the engine lacks; no engine (or one that does not answer) is exit 2."""
    from .localengine import survey

    found = survey(refs, dict(os.environ), config.engine, config.timeout)
    for warning in found.warnings:
        click.echo(f"preflight: warning: {warning}", err=True)
    facts = found.facts
    if facts is None:
        raise UsageProblem(
            "--missing-locally: no container engine found (DOCKER_HOST, a docker context, /var/run/docker.sock "
            "or Podman's socket); name one with --engine"
        )
    if not facts.answered:
        raise UsageProblem(
            f"--missing-locally: the engine {facts.endpoint} ({facts.source}) does not answer: {facts.detail}"
        )
    return [ref for ref in refs if facts.holds(ref) is None]


@cli.command()
@click.argument("image_refs", nargs=-1, metavar="[IMAGE]...")
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text")
@settings_options("engine")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per step.")
@no_credentials_option
def doctor(
    image_refs: tuple[str, ...],
    fmt: str,
    cmdline: CommandLine,
    timeout: float,
    no_credentials: bool,
) -> None:
    """Diagnose pulls step by step: DNS, TCP, TLS, /v2/, token, manifest, mirrors, engine.

    IMAGE... default to the images of the project in the current directory. Exit 0 healthy,
    1 problems found, 2 usage.
    """
    from . import doctor as doc
    from .imageref import ImageRef, ReferenceError

    if not timeout > 0:
        raise UsageProblem("--timeout must be > 0")
    if untrusted_mode(False):
        # doctor reads the project's compose files with the process environment and honours the
        # project's registry endpoints, CA and insecure settings: nothing of --untrusted applies.
        raise UsageProblem(
            "preflight doctor does not run with PREFLIGHT_UNTRUSTED set: it diagnoses this machine's "
            "registry access with the project's files and configuration; run it outside the untrusted job"
        )
    config = load_config(cmdline)
    refs: list[ImageRef] = []
    for text in image_refs:
        try:
            refs.append(ImageRef.parse(text))
        except ReferenceError as exc:
            raise UsageProblem(f"{text!r} is not an image reference: {exc}") from None
    if not image_refs:
        from . import pipeline

        loaded = pipeline.load(["."], config, cwd=Path.cwd(), environ=dict(os.environ))
        found = {s.ref.canonical: s.ref for s in loaded.all_subjects() if s.ref and s.use.pull}
        refs = [found[k] for k in sorted(found)]
        if not refs:
            raise UsageProblem("no images to diagnose: name them (preflight doctor IMAGE...) or run in a project")
    from .report.doctor import render_json, render_text

    sections = doc.run(refs, config, dict(os.environ), timeout, use_credentials=not no_credentials)
    click.echo(render_json(sections) if fmt == "json" else render_text(sections))
    sys.exit(0 if all(s.ok for s in sections) else 1)


@cli.command("rules")
def list_rules() -> None:
    """List every rule with its default level."""
    from .engine import all_rules
    from .report.text import rule_list

    click.echo(rule_list(all_rules()), nl=False)


@cli.command("rule", short_help="Print a rule's documentation page, e.g. preflight rule PF102.")
@click.argument("rule_id")
def show_rule(rule_id: str) -> None:
    """Print the documentation page of RULE_ID (e.g. PF102)."""
    from .engine import get_rule
    from .report.text import rule_text

    r = get_rule(rule_id)
    if r is None:
        raise UsageProblem(f"unknown rule {rule_id!r}; `preflight rules` lists them")
    click.echo(rule_text(r))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: map every unexpected error to exit 2 with a short message."""
    try:
        cli.main(args=argv, prog_name="preflight", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(2)
    except Exception as exc:  # a crash must never look like "findings" (exit 1)
        click.echo(f"preflight: internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
    sys.exit(0)
