"""The whole real-world corpus (../shared/corpus) offline: no crash, and every PF001 is a file
that really is broken as it stands in the corpus (the reasons are listed below)."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from sharedfiles import CORPUS

from preflight.config import Config
from preflight.pipeline import check_paths

if not CORPUS.is_dir():  # the corpus sits beside every clone here and in CI
    if os.environ.get("CI"):
        pytest.fail(f"corpus missing at {CORPUS}", pytrace=False)
    pytest.skip("corpus not available", allow_module_level=True)

VSCODE_TEMPLATES = [  # `${templateOption:x}` placeholders: BuildKit rejects ":" + letter modifiers
    f"microsoft__vscode-dev-containers/containers/{name}/.devcontainer/Dockerfile"
    for name in (
        "azure-ansible", "azure-cli", "azure-functions-pwsh", "azure-terraform", "bash", "clojure",
        "dapr-dotnet", "dapr-javascript-node", "dart", "deno", "haskell", "javascript-node-azurite",
        "mit-scheme", "perl", "python-3-pypy", "r", "ruby-rails", "ruby-sinatra", "swift", "vue",
    )
]  # fmt: skip
BUILDKIT_PARSER_TESTS = [  # BuildKit's own parser fixtures: JSON-form oddities without a FROM
    "moby__buildkit/frontend/dockerfile/parser/testfiles-negative/shykes-nested-json/Dockerfile",
    *(
        f"moby__buildkit/frontend/dockerfile/parser/testfiles/{name}/Dockerfile"
        for name in (
            "jeztah-invalid-json-json-inside-string-double", "jeztah-invalid-json-json-inside-string",
            "jeztah-invalid-json-single-quotes", "jeztah-invalid-json-unterminated-bracket",
            "jeztah-invalid-json-unterminated-string", "json",
        )
    ),
]  # fmt: skip
MISSING_FILES = [  # build: Dockerfiles, env_file: and extends/include targets the repository does not have here
    "compose-spec__compose-go/loader/testdata/combined/dir/extended.yaml",
    "compose-spec__compose-go/loader/testdata/extends/sibling.yaml",  # found by content (stack-style name)
    "docker__cli/cli/compose/loader/full-example.yml",  # found by content
    "compose-spec__compose-go/loader/testdata/compose-test-with-version.yaml",
    "compose-spec__compose-go/loader/testdata/include/included.yaml",
    "compose-spec__compose-go/loader/testdata/remote/cycle/compose-cycle.yaml",  # remote: loader of compose-go's tests
    "compose-spec__compose-go/loader/testdata/remote/cycle/compose.yaml",
    "compose-spec__compose-go/loader/testdata/remote/nested/compose.yaml",
    "docker__compose/pkg/e2e/testdata/TestSecretFromEnv/compose.yaml",
    "docker__compose/pkg/e2e/testdata/TestSecretFromInclude/compose.yaml",
    "renovatebot__renovate/lib/modules/manager/docker-compose/__fixtures__/docker-compose.1.yml",
    "renovatebot__renovate/lib/modules/manager/docker-compose/__fixtures__/docker-compose.3-no-version.yml",
    "renovatebot__renovate/lib/modules/manager/docker-compose/__fixtures__/docker-compose.3.yml",
]
OTHER_BROKEN = [
    "compose-spec__compose-go/loader/testdata/compose-include-cycle.yaml",  # includes itself
    "docker__compose/pkg/e2e/fixtures/wrong-composefile/service1/Dockerfile",  # instruction WRONG
]
EXPECTED_PF001 = set(VSCODE_TEMPLATES + BUILDKIT_PARSER_TESTS + MISSING_FILES + OTHER_BROKEN)


@pytest.fixture(scope="module")
def report():
    return check_paths(["."], Config(), cwd=CORPUS, environ={}, offline=True)


def test_every_file_is_read_without_a_crash(report):
    assert report.summary.files > 1600
    assert report.summary.images > 2500


def test_parse_errors_are_exactly_the_broken_files(report):
    broken = {f.location.path for f in report.findings if f.rule == "PF001"}
    assert broken == EXPECTED_PF001


def test_findings_stay_in_expected_proportions(report):
    counts = Counter(f.rule for f in report.findings)
    assert counts["PF101"] > 300 and counts["PF102"] > 100  # untagged and :latest are common
    internal = [f for f in report.findings if "internal error" in f.message]
    assert internal == []
