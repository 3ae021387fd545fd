"""The pipeline's own decisions: compose-built Dockerfiles, merged documents, untrusted settings."""

from __future__ import annotations

from conftest import write

from preflight.config import Config
from preflight.pipeline import check_paths, load, lookups_for


def test_a_dockerfile_compose_builds_is_read_with_the_service_build_args_only(tmp_path):
    write(tmp_path, {
        "compose.yaml": "services:\n  api:\n    build:\n      context: api\n      args: {TAG: '3.12'}\n",
        "api/Dockerfile": "ARG TAG\nFROM python:${TAG}\n",
    })  # fmt: skip
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [f.rule for f in report.findings] == []  # no PF003: compose supplies TAG
    loaded = load(["api/Dockerfile", "compose.yaml"], Config(), cwd=tmp_path, environ={})
    uses = [u for d in loaded.documents for u in d.uses]
    assert [(u.location.path, u.resolved) for u in uses] == [("api/Dockerfile", "python:3.12")]


def test_a_dockerfile_named_alone_uses_cli_build_args(tmp_path):
    write(tmp_path, {"Dockerfile": "ARG TAG\nFROM python:${TAG}\n"})
    report = check_paths(["Dockerfile"], Config(), cwd=tmp_path, environ={})
    assert [f.rule for f in report.findings] == ["PF003"]
    report = check_paths(["Dockerfile"], Config(build_args={"TAG": "3.12"}), cwd=tmp_path, environ={})
    assert report.findings == ()


def test_a_missing_built_dockerfile_is_reported_at_the_service(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  api:\n    build: ./api\n"})
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.path, f.location.line) for f in report.findings] == [("PF001", "compose.yaml", 3)]


def test_a_dockerfile_named_alone_takes_build_args_from_the_compose_file_that_builds_it(tmp_path):
    """pre-commit passes only the changed Dockerfile: the compose file above it still supplies TAG."""
    write(tmp_path, {
        "compose.yaml": "services:\n  api:\n    build:\n      context: services/api\n      args: {TAG: latest}\n"
                        "  web:\n    image: redis\n",
        "services/api/Dockerfile": "ARG TAG\nFROM python:${TAG}\n",
        "other/Dockerfile": "ARG TAG\nFROM python:${TAG}\n",
    })  # fmt: skip
    report = check_paths(["services/api/Dockerfile", "other/Dockerfile"], Config(), cwd=tmp_path, environ={})
    got = [(f.rule, f.location.path) for f in report.findings]
    # PF102 through compose's TAG=latest; the compose file's own PF101 (redis) is not reported
    assert got == [("PF003", "other/Dockerfile"), ("PF102", "services/api/Dockerfile")]


def test_an_image_a_service_builds_is_not_looked_up_and_names_the_service(tmp_path):
    write(tmp_path, {
        "compose.yaml": "services:\n  base:\n    build: base\n    image: acme/base:dev\n"
                        "  app:\n    build: app\n  worker:\n    image: acme/base:dev\n  db:\n    image: postgres:16\n",
        "base/Dockerfile": "FROM alpine:3.19\n",
        "app/Dockerfile": "FROM docker.io/acme/base:dev\n",
    })  # fmt: skip
    loaded = load(["."], Config(), cwd=tmp_path, environ={})
    looked_up = sorted(lookup.ref.canonical for lookup in lookups_for(loaded))
    assert looked_up == ["docker.io/library/alpine:3.19", "docker.io/library/postgres:16"]
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    found = [(f.rule, f.location.path, f.location.line) for f in report.findings]
    assert found == [("PF106", "app/Dockerfile", 1), ("PF106", "compose.yaml", 8)]
    assert all('service "base" in compose.yaml:4' in f.message for f in report.findings)


def test_an_image_built_by_one_project_is_still_looked_up_in_another(tmp_path):
    write(tmp_path, {
        "one/compose.yaml": "services:\n  db:\n    build: .\n    image: postgres:16\n",
        "one/Dockerfile": "FROM alpine:3.19\n",
        "two/Dockerfile": "FROM postgres:16\n",
    })  # fmt: skip
    loaded = load(["."], Config(), cwd=tmp_path, environ={})
    looked_up = sorted(lookup.ref.canonical for lookup in lookups_for(loaded))
    assert looked_up == ["docker.io/library/alpine:3.19", "docker.io/library/postgres:16"]


def test_named_build_contexts_are_not_images_and_docker_image_values_are_checked_where_written(tmp_path):
    write(tmp_path, {
        "compose.yaml": (
            "services:\n"
            "  app:\n"
            "    build:\n"
            "      context: app\n"
            "      additional_contexts:\n"
            "        base: docker-image://alpine:3.19\n"
            "        src: ./src\n"
            "        lib: service:lib\n"
            '        alpine: "docker-image://alpine:latest"\n'
            "  other:\n"
            "    build:\n"
            "      context: app\n"
            "      additional_contexts: [base=docker-image://Alpine:3.19, src=../x, lib=https://example.com/l.git]\n"
        ),
        "app/Dockerfile": "FROM base\nCOPY --from=src /x /x\nRUN --mount=from=lib,target=/l true\nCOPY --from=alpine /y /y\n",
    })  # fmt: skip
    loaded = load(["."], Config(), cwd=tmp_path, environ={})
    uses = sorted(
        (u.location.path, u.location.line, u.location.column, u.written) for d in loaded.documents for u in d.uses
    )
    assert uses == [
        ("app/Dockerfile", 4, 13, "alpine"),  # `other` has no context named alpine: the image
        ("compose.yaml", 6, 30, "alpine:3.19"),
        ("compose.yaml", 9, 33, "alpine:latest"),
        ("compose.yaml", 13, 49, "Alpine:3.19"),
    ]
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    found = sorted((f.rule, f.location.path, f.location.line) for f in report.findings)
    assert found == [("PF002", "compose.yaml", 13), ("PF101", "app/Dockerfile", 4), ("PF102", "compose.yaml", 9)]


def test_a_missing_dockerfile_built_by_several_services_is_one_finding_naming_them(tmp_path):
    services = "".join(f"  s{i}:\n    build: ./app\n" for i in range(7))
    write(tmp_path, {"deploy/compose.yaml": "services:\n" + services})
    report = check_paths(["."], Config(), cwd=tmp_path, environ={})
    [finding] = report.findings
    assert (finding.rule, finding.location.path, finding.location.line) == ("PF001", "deploy/compose.yaml", 3)
    assert '7 services build ("s0", "s1", "s2", "s3", "s4" and 2 more)' in finding.message
    assert (
        "deploy/app/Dockerfile" in finding.message
        and "relative to the compose file's directory, deploy/" in finding.message
    )


def test_a_directory_is_checked_as_its_compose_project_and_a_named_file_alone(tmp_path):
    """`docker compose up` in a directory merges compose.override.yaml; `-f FILE` reads FILE alone."""
    write(tmp_path, {
        "docker-compose.yml": "services:\n  cache:\n    image: redis:latest\n  web:\n    image: nginx:latest\n"
                              "  api:\n    image: acme/api:latest\n",
        "docker-compose.override.yml": "services:\n  cache:\n    image: redis:7.4\n  api:\n    build: .\n",
        "Dockerfile": "FROM alpine:3.19\n",
    })  # fmt: skip
    project = check_paths(["."], Config(), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.path, f.location.line) for f in project.findings] == [
        ("PF102", "docker-compose.yml", 5)  # redis: replaced by the override; acme/api: built by it
    ]
    alone = check_paths(["docker-compose.yml"], Config(), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.line) for f in alone.findings] == [("PF102", 3), ("PF102", 5), ("PF102", 7)]


def test_build_contexts_from_the_command_line_replace_names_in_every_dockerfile(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM base\nCOPY --from=src /a /a\nFROM alpine\nFROM docker.io/library/alpine\n"})
    config = Config(build_contexts={"base": "docker-image://python:latest", "src": "./src", "alpine": "oci-layout://x"})
    loaded = load(["."], config, cwd=tmp_path, environ={})
    uses = [(u.location.line, u.written, u.resolved) for d in loaded.documents for u in d.uses]
    assert uses == [(1, "base", "python:latest")]  # alpine (also normalized) and src pull nothing
    report = check_paths(["."], config, cwd=tmp_path, environ={})
    assert [(f.rule, f.location.line) for f in report.findings] == [("PF102", 1)]


def test_compose_files_globs_add_compose_files_by_path(tmp_path):
    write(tmp_path, {
        "deploy/prod.yml": 'services: {web: {image: "nginx:latest"}}\n',  # flow style: not recognised by content
        "deploy/notes.yml": "x: 1\n",
        "other.yml": "services:\n  - image: nginx:latest\n",
    })  # fmt: skip
    assert check_paths(["."], Config(), cwd=tmp_path, environ={}).findings == ()
    report = check_paths(["."], Config(compose_files=("deploy/*.yml",)), cwd=tmp_path, environ={})
    assert [(f.rule, f.location.path) for f in report.findings] == [("PF102", "deploy/prod.yml")]
