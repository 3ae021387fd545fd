"""``--deep`` (PF213, download sizes) against a real Distribution 2.8 whose storage the tests break on disk.

Every test pushes images of its own (``scratch_repo``, seeds unique to it: blobs are content-addressed
and shared by every repository on the storage root), then deletes, rewrites or truncates the files
Distribution keeps them in (``<root>/docker/registry/v2/blobs/sha256/<ab>/<hex>/data``) and asserts
the exact findings of ``pipeline.check`` with ``deep`` set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from preflight import pipeline
from preflight.config import Config, RegistryConfig
from preflight.facts import ImageFacts
from preflight.model import Finding
from preflight.rules.deep import short_digest, size_text

from .images import Blob, Manifest, build, build_image, build_index, canonical_json, push_image, split_platform

HOST = "registry.example"


def blob_file(root: Path, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"


def run(
    tmp: Path, url: str, dockerfile: str, *, deep: bool = True, platforms: tuple[str, ...] = ()
) -> tuple[list[tuple[int, str, str]], Mapping[str, ImageFacts]]:
    """(line, rule, message) of the PF2xx findings, and the registry facts."""
    (tmp / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    config = Config(
        registries={HOST: RegistryConfig(endpoint=url)},
        timeout=10.0,
        daemon_json=str(tmp / "no-daemon.json"),
        deep=deep,
        platforms=platforms,
        engine="off",
    )
    environ = {"HOME": str(tmp), "DOCKER_CONFIG": str(tmp), "NO_PROXY": "127.0.0.1,localhost", "PATH": "/usr/bin"}
    loaded = pipeline.load(["."], config, cwd=tmp, environ=environ)
    checked = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ, use_cache=False))
    return [_row(f) for f in checked.report.findings if f.rule.startswith("PF2")], checked.facts


def _row(f: Finding) -> tuple[int, str, str]:
    return (f.location.line, f.rule, f.message)


def layer_of(manifest: Manifest, platform: str) -> Blob:
    child = next(c for c in manifest.children if c.platform == platform) if manifest.is_index else manifest
    return child.layers[0]


def test_a_sound_image_has_no_finding_and_its_download_size(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    rows, facts = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n", platforms=("linux/arm64",))
    assert rows == []
    (walked,) = facts[f"{HOST}/{scratch_repo}:1"].deep or ()
    child = image.children[1]
    assert (walked.platform, walked.manifest) == ("linux/arm64", child.digest)
    assert walked.download_size == sum(layer.size for layer in child.layers) > 0
    assert walked.diff_ids and walked.layers == tuple(layer.digest for layer in child.layers)


def test_the_json_report_lists_download_sizes(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from preflight.report.json import as_dict

    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    (tmp_path / "Dockerfile").write_text(f"FROM {HOST}/{scratch_repo}:1\n", encoding="utf-8")
    for deep in (True, False):
        config = Config(
            registries={HOST: RegistryConfig(endpoint=registry.url)},
            deep=deep,
            platforms=("linux/amd64", "linux/arm64"),
            engine="off",
            daemon_json=str(tmp_path / "none.json"),
        )
        environ = {"HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"}
        loaded = pipeline.load(["."], config, cwd=tmp_path, environ=environ)
        report = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ)).report
        if deep:
            assert as_dict(report)["downloads"] == [
                {"image": f"{HOST}/{scratch_repo}:1", "platform": c.platform, "size": c.layers[0].size, "layers": 1}
                for c in image.children
            ]
        else:
            assert "downloads" not in as_dict(report)


def test_without_deep_nothing_is_walked(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo)
    push_image(registry.url, scratch_repo, "1", image)
    blob_file(registry.root, image.layers[0].digest).unlink()
    rows, facts = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n", deep=False)
    assert rows == [] and facts[f"{HOST}/{scratch_repo}:1"].deep is None


def test_a_deleted_layer_is_named_with_its_platform(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    layer = layer_of(image, "linux/arm64")
    blob_file(registry.root, layer.digest).unlink()
    dockerfile = (
        f"FROM --platform=linux/arm64 {HOST}/{scratch_repo}:1\nFROM --platform=linux/amd64 {HOST}/{scratch_repo}:1\n"
    )
    rows, _ = run(tmp_path, registry.url, dockerfile)
    assert rows == [
        (
            1,
            "PF213",
            f"{HOST}/{scratch_repo}:1: layer {short_digest(layer.digest)} (1 of 1, {size_text(layer.size)}) of "
            "linux/arm64 is missing from the registry: the image was pushed incompletely or garbage-collected; "
            "re-push the tag",
        )
    ]


def test_a_changed_config_does_not_match_its_digest(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo)
    push_image(registry.url, scratch_repo, "1", image)
    config = image.blobs[0]
    path = blob_file(registry.root, config.digest)
    path.write_bytes(path.read_bytes().replace(b"amd64", b"arm64"))
    rows, _ = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n")
    # the config cannot be read, so the platform label comes from nowhere: the image has no index
    assert rows == [
        (
            1,
            "PF213",
            f"{HOST}/{scratch_repo}:1: config {short_digest(config.digest)} does not match its digest: "
            "the registry's copy is corrupt; re-push the tag",
        )
    ]


def test_a_truncated_layer_has_the_wrong_size(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo)
    push_image(registry.url, scratch_repo, "1", image)
    layer = image.layers[0]
    path = blob_file(registry.root, layer.digest)
    path.write_bytes(path.read_bytes()[:-10])
    rows, _ = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n")
    assert rows == [
        (
            1,
            "PF213",
            f"{HOST}/{scratch_repo}:1: layer {short_digest(layer.digest)} (1 of 1, {size_text(layer.size)}) of "
            f"linux/amd64 is {size_text(layer.size - 10)} in the registry, not the {layer.size} bytes its manifest "
            "names: the upload was cut short or the blob replaced; re-push the tag",
        )
    ]


def lying_index(children: list[tuple[Manifest, str]]) -> Manifest:
    """An index whose entries claim the given platforms, whatever their configs say."""
    entries = []
    for child, claimed in children:
        os_name, architecture, variant = split_platform(claimed)
        platform = {"architecture": architecture, "os": os_name} | ({"variant": variant} if variant else {})
        entries.append(
            {"mediaType": child.media_type, "digest": child.digest, "size": child.size, "platform": platform}
        )
    honest = build_index(child for child, _ in children)
    data = canonical_json({"schemaVersion": 2, "mediaType": honest.media_type, "manifests": entries})
    return Manifest(honest.media_type, data, None, (), honest.children)


def test_an_index_entry_whose_config_says_another_platform(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    amd64 = build_image(f"{scratch_repo}-amd64", "linux/amd64")
    also_amd64 = build_image(f"{scratch_repo}-arm64", "linux/amd64")
    push_image(registry.url, scratch_repo, "1", lying_index([(amd64, "linux/amd64"), (also_amd64, "linux/arm64")]))
    rows, _ = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n", platforms=("linux/amd64", "linux/arm64"))
    config = also_amd64.blobs[0]
    assert rows == [
        (
            1,
            "PF213",
            f"{HOST}/{scratch_repo}:1: the index entry for linux/arm64 points at an image whose config "
            f"({short_digest(config.digest)}) says linux/amd64: a pull for linux/arm64 gets an image built for "
            "another platform; rebuild and push the index",
        )
    ]


def test_a_deleted_platform_manifest_is_named(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    child = image.children[0]
    blob_file(registry.root, child.digest).unlink()
    rows, _ = run(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n", platforms=("linux/amd64",))
    assert rows == [
        (
            1,
            "PF213",
            f"{HOST}/{scratch_repo}:1: manifest {short_digest(child.digest)} of linux/amd64 is missing from the "
            "registry: the image was pushed incompletely or garbage-collected; re-push the tag",
        )
    ]


def test_shared_layers_are_asked_about_once(registry, proxy, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo)
    push_image(registry.url, scratch_repo, "1", image)
    push_image(registry.url, scratch_repo, "2", image)
    push_image(registry.url, scratch_repo, "3", build(f"{scratch_repo}-other"))
    dockerfile = "".join(f"FROM {HOST}/{scratch_repo}:{tag}\n" for tag in (1, 2, 3))
    rows, facts = run(tmp_path, proxy.url, dockerfile)
    assert rows == []
    heads = [line for line in proxy.request_lines if line.startswith("HEAD") and "/blobs/" in line]
    assert len(heads) == 2  # the shared layer once, the other image's once
    sizes = {key.rsplit(":", 1)[1]: [p.download_size for p in f.deep or ()] for key, f in facts.items()}
    assert sizes == {"1": [image.layers[0].size], "2": [image.layers[0].size], "3": [sizes["3"][0]]}


def preflight_cli(tmp: Path, url: str, dockerfile: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m preflight ARGS`` in ``tmp`` (a Dockerfile, a config naming ``url`` for HOST), clean environment."""
    (tmp / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    config = {"registries": {HOST: {"endpoint": url}}, "daemon-json": "none.json"}
    (tmp / ".preflight.yaml").write_text(json.dumps(config), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "DOCKER_CONFIG": str(tmp),
        "NO_PROXY": "127.0.0.1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    command = [sys.executable, "-m", "preflight", *args, "--engine", "off"]
    return subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=60)


def test_images_json_with_deep_lists_download_sizes(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    dockerfile = f"FROM {HOST}/{scratch_repo}:1\n"
    args = ("images", ".", "--format", "json")
    done = preflight_cli(tmp_path, registry.url, dockerfile, *args, "--deep", "--platform", "linux/arm64")
    assert done.returncode == 0, done.stderr
    child = image.children[1]
    assert json.loads(done.stdout)["downloads"] == [
        {"image": f"{HOST}/{scratch_repo}:1", "platform": "linux/arm64", "size": child.layers[0].size, "layers": 1}
    ]
    assert "downloads" not in json.loads(preflight_cli(tmp_path, registry.url, dockerfile, *args).stdout)


def two_layer_image(seed: str, base: Manifest) -> Manifest:
    """``base``'s layer with one more on top (the config names both diff IDs, as docker pull verifies)."""
    import gzip

    from .images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, _layer_tar, sha256_digest

    tar = _layer_tar(seed, "linux/amd64")
    top = Blob(OCI_LAYER, gzip.compress(tar, compresslevel=6, mtime=0))
    config_doc = json.loads(base.blobs[0].data)
    config_doc["rootfs"]["diff_ids"].append(sha256_digest(tar))
    config = Blob(OCI_CONFIG, canonical_json(config_doc))
    layers = [base.layers[0].descriptor(), top.descriptor()]
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(), "layers": layers}
    return Manifest(OCI_MANIFEST, canonical_json(document), "linux/amd64", (config, base.layers[0], top))


@pytest.mark.parametrize("named", [True, False], ids=["held-image-named", "held-image-not-named"])
def test_the_disk_sum_leaves_out_layers_the_real_engine_has(  # type: ignore[no-untyped-def]
    registry, docker_engine, scratch_repo: str, tmp_path: Path, named: bool
) -> None:
    base = build(f"{scratch_repo}-base")
    app = two_layer_image(f"{scratch_repo}-app", base)
    push_image(registry.url, f"{scratch_repo}/base", "1", base)
    push_image(registry.url, f"{scratch_repo}/app", "1", app)
    held, wanted = f"{registry.hostport}/{scratch_repo}/base:1", f"{registry.hostport}/{scratch_repo}/app:1"
    docker_engine.run(["pull", held])
    dockerfile = f"FROM {held}\nFROM {wanted}\n" if named else f"FROM {wanted}\n"  # else found among all images
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    config = Config(
        deep=True, rule_options={"disk-margin": 10**18}, timeout=10.0, daemon_json=str(tmp_path / "none.json")
    )
    environ = docker_engine.env(HOME=str(tmp_path))
    loaded = pipeline.load(["."], config, cwd=tmp_path, environ=environ)
    report = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ)).report
    (found,) = [f for f in report.findings if f.rule == "PF214"]
    top = app.layers[1]
    assert found.location.line == (2 if named else 1) and found.level.value == "warning"
    assert (
        f"the 1 image the engine at {docker_engine.host} does not hold downloads {size_text(top.size)} "
        in found.message
    )


def test_a_sound_answer_is_cached_and_a_damaged_one_is_asked_again(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sound, damaged = build(f"{scratch_repo}-sound"), build(f"{scratch_repo}-damaged")
    push_image(registry.url, scratch_repo, "sound", sound)
    push_image(registry.url, scratch_repo, "damaged", damaged)
    blob_file(registry.root, damaged.layers[0].digest).unlink()
    config = Config(registries={HOST: RegistryConfig(endpoint=registry.url)}, deep=True, engine="off")
    environ = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_PROXY": "127.0.0.1"}

    def check(dockerfile: str) -> tuple[list[str], int]:
        (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        loaded = pipeline.load(["."], config, cwd=tmp_path, environ=environ)
        report = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ)).report
        return [f.rule for f in report.findings if f.rule.startswith("PF2")], report.summary.requests

    assert check(f"FROM {HOST}/{scratch_repo}:sound\n")[0] == []
    assert check(f"FROM {HOST}/{scratch_repo}:sound\n") == ([], 0)  # warm: the deep answer came from the cache
    assert check(f"FROM {HOST}/{scratch_repo}:damaged\n")[0] == ["PF213"]
    again, requests = check(f"FROM {HOST}/{scratch_repo}:damaged\n")
    assert again == ["PF213"] and requests > 0  # never cached: a re-push shows at once


def test_a_foreign_layer_is_skipped_with_a_note(  # type: ignore[no-untyped-def]
    registry, registry_bin, registry_workdir, scratch_repo: str, tmp_path: Path
) -> None:
    from .images import DOCKER_MANIFEST
    from .servers import start_registry

    # Distribution takes a foreign layer's URLs only when its configuration allows them
    urls = {"validation": {"manifests": {"urls": {"allow": ["^https://"]}}}}
    process = start_registry(registry_bin, registry_workdir, registry.root, name="foreign", extra=urls)
    base = build(scratch_repo, oci=False)
    blob = Blob("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", f"{scratch_repo} foreign".encode())
    foreign = blob.descriptor() | {"urls": ["https://mcr.example/windows/layer"]}
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": base.blobs[0].descriptor(),
        "layers": [foreign, base.layers[0].descriptor()],
    }
    try:
        push_image(
            process.url, scratch_repo, "1", Manifest(DOCKER_MANIFEST, canonical_json(document), None, base.blobs)
        )
    finally:
        process.stop()
    (tmp_path / "Dockerfile").write_text(f"FROM {HOST}/{scratch_repo}:1\n", encoding="utf-8")
    config = Config(registries={HOST: RegistryConfig(endpoint=registry.url)}, deep=True, engine="off")
    environ = {"HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"}
    loaded = pipeline.load(["."], config, cwd=tmp_path, environ=environ)
    checked = pipeline.check(loaded, config, pipeline.RunOptions(environ=environ, use_cache=False))
    assert [f.rule for f in checked.report.findings if f.rule.startswith("PF2")] == []
    assert (
        f"--deep: 1 foreign layer(s) of {HOST}/{scratch_repo}:1 (linux/amd64) not checked: a pull downloads them "
        "from their own URLs, not from the registry"
    ) in checked.warnings
    (walked,) = checked.facts[f"{HOST}/{scratch_repo}:1"].deep or ()
    assert walked.download_size == blob.size + base.layers[0].size


def test_check_deep_on_the_command_line(registry, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo)
    push_image(registry.url, scratch_repo, "1", image)
    blob_file(registry.root, image.layers[0].digest).unlink()

    def run_cli(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ("check", ".", "--format", "json", "--no-cache", *extra)
        return preflight_cli(tmp_path, registry.url, f"FROM {HOST}/{scratch_repo}:1\n", *args)

    deep = run_cli("--deep", "--disk-margin", "500MB")
    assert deep.returncode == 1, deep.stderr
    report = json.loads(deep.stdout)
    assert [f["rule"] for f in report["findings"]] == ["PF213"]
    assert report["downloads"] == [
        {"image": f"{HOST}/{scratch_repo}:1", "platform": "linux/amd64", "size": image.layers[0].size, "layers": 1}
    ]
    shallow = run_cli()
    assert shallow.returncode == 0 and "downloads" not in json.loads(shallow.stdout)
    bad = run_cli("--deep", "--disk-margin", "lots")
    assert bad.returncode == 2 and "--disk-margin" in bad.stderr


def test_the_index_the_lookup_read_is_not_fetched_again(registry, proxy, scratch_repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = build(scratch_repo, ("linux/amd64", "linux/arm64"))
    push_image(registry.url, scratch_repo, "1", image)
    rows, _ = run(tmp_path, proxy.url, f"FROM {HOST}/{scratch_repo}:1\n", platforms=("linux/arm64",))
    assert rows == []
    gets = [line.split()[1] for line in proxy.request_lines if line.startswith("GET") and "/manifests/" in line]
    # the tag once (the lookup), the arm64 manifest once (the walk): on Docker Hub, one pull
    assert gets == [f"/v2/{scratch_repo}/manifests/1", f"/v2/{scratch_repo}/manifests/{image.children[1].digest}"]
