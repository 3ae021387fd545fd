"""File discovery: names, recursion, git ignores, excludes, symlinks, display paths."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sharedfiles import CORPUS

from preflight import discover as discover_mod
from preflight import gitfiles
from preflight.discover import (
    Discovery,
    Target,
    compile_excludes,
    discover,
    display_path,
    is_excluded,
)
from preflight.filekinds import classify, classify_explicit, sniff_compose
from preflight.model import Location, Problem


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n")


def shown(result: Discovery, cwd: Path) -> list[str]:
    return [display_path(t.path, cwd) for t in result.targets]


def need_git() -> str:
    git = shutil.which("git")
    if git is None:
        if os.environ.get("CI"):
            pytest.fail("git is required for these tests in CI")
        pytest.skip("git not installed")
    return git


def git(repo: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    subprocess.run([need_git(), *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture
def no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the os.scandir walk, as on a machine without git."""
    monkeypatch.setattr(gitfiles, "_git", lambda: None)


# ----------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "Dockerfile", "dockerfile", "Containerfile", "Dockerfile.dev", "Dockerfile.alpine-icu",
        "Dockerfile.regsync.buildkit", "Containerfile.fedora", "app.Dockerfile", "base.dockerfile",
        "1.Dockerfile", "web.Containerfile", "web.containerfile",
    ],
)  # fmt: skip
def test_dockerfile_names(name: str) -> None:
    assert classify(name) == "dockerfile"


@pytest.mark.parametrize(
    "name",
    [
        "compose.yaml", "compose.yml", "compose.override.yaml", "compose.prod.yml",
        "docker-compose.yaml", "docker-compose.yml", "docker-compose.test.yml",
        "docker-compose-storage.yml", "compose-dev.yaml",
        "mycompose.yaml", "gateway-docker-compose.yml", "docker-stack.yml", "docker-stack.prod.yaml", "fig.yml",
    ],
)  # fmt: skip
def test_compose_names(name: str) -> None:
    assert classify(name) == "compose"


@pytest.mark.parametrize(
    ("text", "is_compose"),
    [
        ("services:\n  web:\n    image: nginx:1\n", True),
        ('version: "3"\n# stack\nservices:   # all of them\n  app:\n    build: .\n', True),
        ("name: ci\njobs:\n  test:\n    services:\n      redis:\n        image: redis\n", False),  # workflow
        ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: nginx\n", False),  # Kubernetes
        ("services:\n  - name: a\n    port: 80\n", False),  # a services list without images
        ("x: 1\n" * 20_000 + "services:\n  web:\n    image: nginx\n", False),  # past the first 64 KiB
    ],
)
def test_yaml_is_recognised_as_compose_by_content(tmp_path: Path, text: str, is_compose: bool) -> None:
    (tmp_path / "stack.yml").write_text(text)
    (tmp_path / "notes.txt").write_text("services:\n  web:\n    image: nginx\n")  # not YAML: never sniffed
    found = discover(["."], tmp_path)
    assert [(t.path.name, t.kind) for t in found.targets] == ([("stack.yml", "compose")] if is_compose else [])


@pytest.mark.parametrize(
    "name",
    [
        "Dockerfile.dockerignore", "app.Dockerfile.dockerignore", ".dockerignore", "Dockerfile.template",
        "Dockerfile.tmpl", "Dockerfile.j2", "Dockerfile.md", "Dockerfile.txt", "Dockerfile.sh",
        "Dockerfile.py", "Dockerfile.json", "Dockerfile.yaml", "Dockerfile.yml", "Dockerfile.in",
        "Dockerfile.MD", "Dockerfile.", ".Dockerfile", "DOCKERFILE", "DockerFile", "dockerfile.dev",
        "Dockerfile-debian.template", "Dockerfile_old", "README.md", "k8s.yaml", "deployment.yml",
        "compose.json", "compose.yaml.bak", "docker-compose", "compose", ".env", "stack.yml", "Dockerfile.compose.yml",
    ],
)  # fmt: skip
def test_not_discovered_names(name: str) -> None:
    assert classify(name) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("deploy.yaml", "compose"), ("stack.YML", "compose"), ("app.docker", "dockerfile"),
        ("Dockerfile.md", "dockerfile"), ("Dockerfile.yaml", "compose"), ("compose.yaml", "compose"),
        ("app.Dockerfile", "dockerfile"), ("build", "dockerfile"),
    ],
)  # fmt: skip
def test_explicit_names(name: str, kind: str) -> None:
    assert classify_explicit(name) == kind


# ----------------------------------------------------------------- walking


def test_recursive_walk_finds_hidden_dirs_and_skips_vcs(tmp_path: Path, no_git: None) -> None:
    touch(
        tmp_path,
        "Dockerfile", ".devcontainer/Dockerfile", ".github/ci/compose.yaml", "svc/api/app.Dockerfile",
        "svc/api/docker-compose.override.yml", ".git/Dockerfile", ".hg/Dockerfile", ".svn/compose.yaml",
        "k8s/deployment.yaml", "tmpl/Dockerfile.template", "docs/Dockerfile.md", ".dockerignore",
    )  # fmt: skip
    result = discover([], tmp_path)
    assert shown(result, tmp_path) == [
        ".devcontainer/Dockerfile", ".github/ci/compose.yaml", "Dockerfile",
        "svc/api/app.Dockerfile", "svc/api/docker-compose.override.yml",
    ]  # fmt: skip
    assert [t.kind for t in result.targets] == ["dockerfile", "compose", "dockerfile", "dockerfile", "compose"]
    assert not any(t.explicit for t in result.targets)
    assert result.problems == ()
    assert all(t.path.is_absolute() for t in result.targets)


def test_default_path_is_cwd_and_argument_may_be_subdir(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "a/Dockerfile", "b/compose.yaml")
    assert shown(discover([], tmp_path), tmp_path) == ["a/Dockerfile", "b/compose.yaml"]
    assert shown(discover(["b"], tmp_path), tmp_path) == ["b/compose.yaml"]
    assert shown(discover(["b/"], tmp_path / "a"), tmp_path / "a") == []  # relative to cwd: a/b is missing
    sub = discover(["../b"], tmp_path / "a")
    assert shown(sub, tmp_path / "a") == [(tmp_path / "b" / "compose.yaml").resolve().as_posix()]


def test_explicit_files_any_name(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "k8s/deploy.yaml", "build/app.docker", "Dockerfile")
    result = discover(["k8s/deploy.yaml", "build/app.docker", "."], tmp_path)
    kinds = {display_path(t.path, tmp_path): (t.kind, t.explicit) for t in result.targets}
    assert kinds == {
        "Dockerfile": ("dockerfile", False),
        "build/app.docker": ("dockerfile", True),
        "k8s/deploy.yaml": ("compose", True),
    }


def test_file_reached_twice_is_one_explicit_target(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "svc/Dockerfile")
    result = discover([".", "svc/Dockerfile", "./svc/../svc/Dockerfile"], tmp_path)
    assert result.targets == (Target((tmp_path / "svc" / "Dockerfile").resolve(), "dockerfile", True),)


def test_missing_path_is_a_problem_and_the_rest_goes_on(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "Dockerfile")
    result = discover(["nope/Dockerfile", "Dockerfile", "gone"], tmp_path)
    assert shown(result, tmp_path) == ["Dockerfile"]
    assert result.problems == (
        Problem("PF001", Location("gone"), "path not found"),
        Problem("PF001", Location("nope/Dockerfile"), "path not found"),
    )


def test_unreadable_directory_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git: None) -> None:
    touch(tmp_path, "ok/Dockerfile", "locked/Dockerfile")
    real_scandir = os.scandir
    locked = str(tmp_path / "locked")

    def scandir(path: str) -> object:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(discover_mod.os, "scandir", scandir)
    result = discover(["."], tmp_path)
    assert shown(result, tmp_path) == ["ok/Dockerfile"]
    assert result.problems == (Problem("PF001", Location("locked"), "cannot read directory: Permission denied"),)


def test_results_are_sorted_by_display_path(tmp_path: Path, no_git: None) -> None:
    names = ["z/Dockerfile", "a/compose.yaml", "m/Dockerfile", "a/b/Dockerfile", "B/Dockerfile"]
    touch(tmp_path, *names)
    assert shown(discover(["z", "."], tmp_path), tmp_path) == sorted(names)


# ----------------------------------------------------------------- symlinks


def test_symlink_loop_does_not_hang(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "a/Dockerfile", "a/b/compose.yaml")
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(".", target_is_directory=True)
    (tmp_path / "a" / "loop1").symlink_to("loop2")
    (tmp_path / "a" / "loop2").symlink_to("loop1")
    result = discover(["."], tmp_path)
    assert shown(result, tmp_path) == ["a/Dockerfile", "a/b/compose.yaml"]
    assert result.problems == ()


def test_symlinked_dir_and_file_resolve_to_one_target(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "real/Dockerfile", "real/other.yml")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    (tmp_path / "compose.yaml").symlink_to("real/other.yml")
    result = discover(["."], tmp_path)
    assert result.targets == (
        Target((tmp_path / "real" / "Dockerfile").resolve(), "dockerfile", False),
        Target((tmp_path / "real" / "other.yml").resolve(), "compose", False),
    )


def test_symlinked_dir_outside_the_tree_is_followed(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "outside/Dockerfile")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "ext").symlink_to(tmp_path / "outside", target_is_directory=True)
    cwd = tmp_path / "proj"
    assert shown(discover([], cwd), cwd) == [(tmp_path / "outside" / "Dockerfile").resolve().as_posix()]


def test_broken_symlink_named_like_a_dockerfile(tmp_path: Path, no_git: None) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").symlink_to("missing")
    (tmp_path / "notes.txt").symlink_to("missing")
    result = discover(["."], tmp_path)
    assert result.targets == ()
    assert result.problems == (Problem("PF001", Location("svc/Dockerfile"), "broken symbolic link"),)
    named = discover(["svc/Dockerfile"], tmp_path)
    assert named.problems == (Problem("PF001", Location("svc/Dockerfile"), "broken symbolic link"),)


# ----------------------------------------------------------------- git


def make_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", ".")


def test_git_ignored_files_are_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    touch(
        repo, "Dockerfile", "gone/Dockerfile", "build/Dockerfile", "docker-compose.local.yml", "svc/compose.yaml",
        ".devcontainer/Dockerfile", "node_modules/pkg/Dockerfile", "tracked-but-ignored/Dockerfile",
    )  # fmt: skip
    (repo / ".gitignore").write_text("build/\n*.local.yml\nnode_modules\ntracked-but-ignored/\n")
    git(repo, "add", "-f", "Dockerfile", "gone/Dockerfile", "tracked-but-ignored/Dockerfile", ".gitignore")
    git(repo, "commit", "-qm", "init")
    (repo / "gone" / "Dockerfile").unlink()  # tracked, deleted from the work tree: not reported
    result = discover(["."], repo)
    assert shown(result, repo) == [
        ".devcontainer/Dockerfile", "Dockerfile", "svc/compose.yaml", "tracked-but-ignored/Dockerfile",
    ]  # fmt: skip
    assert result.problems == ()
    # A subdirectory of the work tree: paths stay relative to cwd, ignores still apply.
    touch(repo, "svc/build/Dockerfile")
    (repo / "svc" / ".gitignore").write_text("build\n")
    assert shown(discover(["svc"], repo), repo) == ["svc/compose.yaml"]
    # An explicitly named ignored file is still read.
    assert shown(discover(["build/Dockerfile"], repo), repo) == ["build/Dockerfile"]


def test_git_listing_matches_walk_without_ignores(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    touch(repo, "a/Dockerfile", ".github/compose.yaml", "b/c/app.dockerfile", "b/readme.md")
    with_git = discover(["."], repo)
    walked = discover_without_git(repo)
    assert with_git == walked
    assert shown(with_git, repo) == [".github/compose.yaml", "a/Dockerfile", "b/c/app.dockerfile"]


def discover_without_git(cwd: Path) -> Discovery:
    saved = gitfiles._git
    gitfiles._git = lambda: None  # type: ignore[assignment]
    try:
        return discover(["."], cwd)
    finally:
        gitfiles._git = saved  # type: ignore[assignment]


def test_nested_repository_uses_its_own_ignores(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    make_repo(outer)
    touch(outer, "Dockerfile")
    inner = outer / "vendor" / "lib"
    make_repo(inner)
    touch(inner, "Dockerfile", "gen/Dockerfile")
    (inner / ".gitignore").write_text("gen/\n")
    assert shown(discover([], outer), outer) == ["Dockerfile", "vendor/lib/Dockerfile"]


def test_submodule_is_listed_by_its_own_repository(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    make_repo(upstream)
    touch(upstream, "Dockerfile")
    git(upstream, "add", "Dockerfile")
    git(upstream, "commit", "-qm", "init")
    outer = tmp_path / "outer"
    make_repo(outer)
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "deps/up")
    touch(outer / "deps" / "up", "extra/compose.yaml")  # untracked inside the submodule
    assert shown(discover([], outer), outer) == ["deps/up/Dockerfile", "deps/up/extra/compose.yaml"]


def test_walk_switches_to_git_inside_a_repository(tmp_path: Path) -> None:
    repo = tmp_path / "plain" / "checkout"
    make_repo(repo)
    touch(repo, "Dockerfile", "out/Dockerfile")
    (repo / ".gitignore").write_text("out/\n")
    touch(tmp_path / "plain", "compose.yaml")
    cwd = tmp_path / "plain"
    assert shown(discover([], cwd), cwd) == ["checkout/Dockerfile", "compose.yaml"]


# ----------------------------------------------------------------- excludes


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("vendor/**", "vendor/x/Dockerfile", True),
        ("vendor/**", "src/vendor/Dockerfile", False),
        ("vendor", "src/vendor/Dockerfile", True),
        ("*.dev.yaml", "a/b/compose.dev.yaml", True),
        ("*.dev.yaml", "a/b/compose.yaml", False),
        ("tests/fixtures", "tests/fixtures/x/Dockerfile", True),
        ("tests/fixtures", "src/tests/fixtures/Dockerfile", False),
        ("**/fixtures", "src/tests/fixtures/Dockerfile", True),
        ("a/**/b", "a/b/Dockerfile", True),
        ("a/**/b", "a/x/y/b/Dockerfile", True),
        ("/build", "build/Dockerfile", True),
        ("/build", "x/build/Dockerfile", False),
        ("./build", "build/Dockerfile", True),
        ("build/", "build/Dockerfile", True),
        ("Dockerfile/", "svc/Dockerfile", False),
        ("svc/*", "svc/Dockerfile", True),
        ("svc/*", "svc/sub/Dockerfile", True),
        ("*/Dockerfile", "svc/sub/Dockerfile", False),
        ("Dockerfile.?", "Dockerfile.a", True),
        ("Dockerfile.?", "Dockerfile.ab", False),
        ("Dockerfile.[ab]", "Dockerfile.b", True),
        ("Dockerfile.[!ab]", "Dockerfile.b", False),
        ("Dockerfile.[!ab]", "Dockerfile.c", True),
        ("*", "../other/Dockerfile", True),
        ("x*", "../x/Dockerfile", True),
        (".*", "../x/Dockerfile", False),
        ("\\*.yaml", "*.yaml", True),
        ("\\*.yaml", "a.yaml", False),
        ("[", "[", True),
    ],
)  # fmt: skip
def test_exclude_semantics(pattern: str, path: str, excluded: bool) -> None:
    assert is_excluded(path, False, compile_excludes([pattern])) is excluded


@pytest.mark.parametrize("pattern", ["", "  ", "!vendor", "/", "./"])
def test_invalid_excludes(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_excludes([pattern])


def test_excludes_in_a_walk(tmp_path: Path, no_git: None) -> None:
    touch(
        tmp_path, "Dockerfile", "vendor/x/Dockerfile", "compose.dev.yaml", "compose.yaml",
        "tests/fixtures/Dockerfile", "src/tests/fixtures/Dockerfile",
    )  # fmt: skip
    result = discover([], tmp_path, exclude=["vendor/**", "*.dev.yaml", "tests/fixtures"])
    assert shown(result, tmp_path) == ["Dockerfile", "compose.yaml", "src/tests/fixtures/Dockerfile"]
    # Explicitly named files and directories are excluded too (pre-commit names every file).
    assert (
        discover(["vendor/x/Dockerfile", "tests/fixtures"], tmp_path, exclude=["vendor", "tests/fixtures"]).targets
        == ()
    )
    # Excludes are relative to cwd, not to the named directory.
    assert shown(discover(["src"], tmp_path, exclude=["tests/fixtures"]), tmp_path) == ["src/tests/fixtures/Dockerfile"]


def test_excludes_in_a_git_listing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    touch(repo, "Dockerfile", "vendor/x/Dockerfile", "deploy/compose.dev.yaml")
    result = discover([], repo, exclude=["vendor", "*.dev.yaml"])
    assert shown(result, repo) == ["Dockerfile"]


# ----------------------------------------------------------------- display paths


def test_display_paths(tmp_path: Path) -> None:
    cwd = tmp_path / "proj"
    cwd.mkdir()
    assert display_path(cwd / "a" / "Dockerfile", cwd) == "a/Dockerfile"
    assert display_path(cwd, cwd) == "."
    assert display_path(Path("a/../b/compose.yaml"), cwd) == "b/compose.yaml"
    assert display_path(tmp_path / "other" / "Dockerfile", cwd) == (tmp_path / "other" / "Dockerfile").as_posix()
    assert display_path(cwd / ".." / "proj2" / "x", cwd) == (tmp_path / "proj2" / "x").as_posix()
    link = tmp_path / "link"
    link.symlink_to(cwd, target_is_directory=True)
    assert display_path(cwd.resolve() / "Dockerfile", link) == "Dockerfile"
    assert display_path(link / "Dockerfile", link) == "Dockerfile"


def test_cwd_through_a_symlink(tmp_path: Path, no_git: None) -> None:
    touch(tmp_path, "real/svc/Dockerfile")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    assert shown(discover([], link), link) == ["svc/Dockerfile"]


# ----------------------------------------------------------------- corpus


def test_corpus_discovery() -> None:
    if not CORPUS.is_dir():
        pytest.skip("corpus not present beside the checkout")
    index = {}
    for line in (CORPUS / "INDEX.tsv").read_text().splitlines():
        kind, path = line.split("\t")
        index[path] = kind
    result = discover(["."], CORPUS)
    found = {display_path(t.path, CORPUS): t.kind for t in result.targets}
    assert result.problems == ()
    # Every indexed Dockerfile is found as one; nothing outside the index is found.
    assert {p for p, k in index.items() if k == "dockerfile"} <= {p for p, k in found.items() if k == "dockerfile"}
    assert set(found) <= set(index)
    for path, kind in found.items():
        assert index[path] == kind, path
    # Compose files are found by name (every indexed one with a compose name) or by content.
    named = {p for p, k in index.items() if k == "compose" and classify(p.rpartition("/")[2]) == "compose"}
    sniffed = {p for p, k in index.items() if k == "compose" and p not in named and sniff_compose(str(CORPUS / p))}
    assert named | sniffed == {p for p, k in found.items() if k == "compose"}
    assert len(named) > 250 and len(sniffed) > 30


def test_no_git_process_outside_a_work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery in a directory with no ``.git`` in it or above starts no git process (git would only
    fail); with a ``.git`` file (a worktree or submodule), git still runs and ignores what it ignores."""
    import subprocess as sp

    started: list[list[str]] = []
    real_run = sp.run

    def run(argv: list[str], *args: object, **kwargs: object) -> object:
        started.append(argv)
        return real_run(argv, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(sp, "run", run)
    plain = tmp_path / "plain"
    (plain / "app").mkdir(parents=True)
    (plain / "app" / "Dockerfile").write_text("FROM alpine:3.20\n")
    assert gitfiles.ls_files(str(plain / "app")) is None
    assert started == []

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "Dockerfile").write_text("FROM alpine:3.20\n")
    (repo / "Dockerfile").write_text("FROM alpine:3.20\n")
    linked = tmp_path / "linked"
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")
    git(repo, "worktree", "add", "-q", str(linked))
    assert (linked / ".git").is_file()
    started.clear()
    listed = gitfiles.ls_files(str(linked))
    assert started and listed is not None
    assert ("Dockerfile", False) in listed and not any(p.startswith("ignored") for p, _ in listed)
