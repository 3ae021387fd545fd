"""ImageRef against the distribution/reference test vectors (../shared/docs/registry-protocol.md §1.3)."""

from __future__ import annotations

import pytest

from preflight.imageref import HOST_PROBLEM_PREFIX, ImageRef, ReferenceError, host_problem

H = "0123456789abcdef" * 4  # 64 lowercase hex characters

VALID = [
    # input, domain, path, tag, digest
    ("ubuntu", "docker.io", "library/ubuntu", None, None),
    ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
    ("docker.io/ubuntu", "docker.io", "library/ubuntu", None, None),
    ("index.docker.io/ubuntu", "docker.io", "library/ubuntu", None, None),
    ("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", None, None),
    ("registry-1.docker.io/ubuntu", "registry-1.docker.io", "ubuntu", None, None),
    ("DOCKER.IO/ubuntu", "DOCKER.IO", "ubuntu", None, None),
    ("localhost/foo", "localhost", "foo", None, None),
    ("localhost:5000/foo", "localhost:5000", "foo", None, None),
    ("localhost:5000/foo:1.0", "localhost:5000", "foo", "1.0", None),
    ("registry.example.com:8443/team/app:v1.2.3", "registry.example.com:8443", "team/app", "v1.2.3", None),
    ("[::1]:5000/foo:dev", "[::1]:5000", "foo", "dev", None),
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),
    ("localhost", "docker.io", "library/localhost", None, None),
    ("example.com", "docker.io", "library/example.com", None, None),
    ("Foo/bar", "Foo", "bar", None, None),
    ("nginx:Latest", "docker.io", "library/nginx", "Latest", None),
    (f"nginx:1.25@sha256:{H}", "docker.io", "library/nginx", "1.25", f"sha256:{H}"),
    (f"nginx@sha256:{H}", "docker.io", "library/nginx", None, f"sha256:{H}"),
    ("foo__bar", "docker.io", "library/foo__bar", None, None),
    ("foo--bar", "docker.io", "library/foo--bar", None, None),
    ("a/b/c/d", "docker.io", "a/b/c/d", None, None),
    (f"ghcr.io/o/r@sha512:{'a' * 128}", "ghcr.io", "o/r", None, f"sha512:{'a' * 128}"),
]


@pytest.mark.parametrize(("text", "domain", "path", "tag", "digest"), VALID)
def test_valid_references_normalize_like_distribution(text, domain, path, tag, digest):
    ref = ImageRef.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


INVALID = [
    ("foo/Bar", "lowercase"),
    ("Ubuntu", "lowercase"),
    ("ghcr.io/Owner/repo", "lowercase"),
    ("nginx:", "tag is empty"),
    ("nginx:latest\n", "whitespace"),
    ("nginx:.x", "must not start"),
    ("nginx:" + "a" * 129, "longer than 128"),
    ("nginx@sha256:" + H[:63], "64 hex"),
    ("nginx@sha256:" + H.upper(), "lowercase hexadecimal"),
    ("nginx@md5:" + H[:32], "algorithm"),
    (H, "image ID"),
    ("foo//bar", "empty path component"),
    ("foo/bar/", "empty path component"),
    ("foo___bar", "invalid reference format"),
    ("-nginx", "invalid reference format"),
    ("my_registry.com/foo", "not a valid registry host"),
    ("nginx:é1", "non-ASCII"),
    ("", "empty"),
    ("a/" + "b" * 255, "255"),
    ("python:3.12 slim", "whitespace"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_references_say_why(text, reason):
    with pytest.raises(ReferenceError) as err:
        ImageRef.parse(text)
    assert reason in str(err.value)


def test_path_length_counts_path_not_domain():
    path = "/".join(["abcdefghi"] * 25) + "/abcde"  # 255 characters
    assert len(path) == 255
    assert ImageRef.parse(f"registry.example.com/{path}").path == path


@pytest.mark.parametrize(
    ("text", "canonical", "familiar"),
    [
        ("python", "docker.io/library/python:latest", "python"),
        ("python:3.12-slim", "docker.io/library/python:3.12-slim", "python:3.12-slim"),
        ("myorg/app:1.0", "docker.io/myorg/app:1.0", "myorg/app:1.0"),
        ("localhost:5000/foo", "localhost:5000/foo:latest", "localhost:5000/foo"),
        (f"nginx@sha256:{H}", f"docker.io/library/nginx@sha256:{H}", f"nginx@sha256:{H}"),
        (f"nginx:1@sha256:{H}", f"docker.io/library/nginx:1@sha256:{H}", f"nginx:1@sha256:{H}"),
    ],
)
def test_canonical_and_familiar_forms(text, canonical, familiar):
    ref = ImageRef.parse(text)
    assert ref.canonical == canonical
    assert ref.familiar == familiar


def test_effective_tag_is_latest_only_without_tag_and_digest():
    assert ImageRef.parse("python").effective_tag == "latest"
    assert ImageRef.parse(f"python@sha256:{H}").effective_tag is None
    assert ImageRef.parse("python:3").effective_tag == "3"


# ----------------------------------------------------------------- hosts valid per the grammar, unusable as hosts


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0251.0376.0251.0376:80/a:1", "169.254.169.254"),  # octal, as inet_aton reads it
        ("0x7f.1:5000/a", "127.0.0.1"),
        ("10.1:5000/a", "dotted-decimal"),
        ("256.1.1.1/a", "dotted-decimal"),
        ("1.2.3.4.5/a", "dotted-decimal"),
        ("localhost:99999/a", "port 99999"),
        ("localhost:0/a", "port 0"),
        ("[1:2:3]:5000/a", "IPv6"),
        ("xn--zz.example/a", "internationalized"),
        ("a" * 64 + ".example/a", "63 characters"),
    ],
)
def test_grammar_valid_hosts_that_cannot_be_connected_to(text, reason):
    ref = ImageRef.parse(text)  # distribution/reference accepts them: parsing stays faithful
    problem = host_problem(ref.domain)
    assert problem is not None and problem.startswith(HOST_PROBLEM_PREFIX) and reason in problem


@pytest.mark.parametrize(
    "domain",
    [
        "docker.io",
        "127.0.0.1:5000",
        "[::1]:5000",
        "localhost:080",
        "xn--bcher-kva.example",
        "1e5.example",
        "Reg.Example",
    ],
)
def test_usable_hosts_have_no_problem(domain):
    assert host_problem(domain) is None
