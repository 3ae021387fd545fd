"""SARIF from a mixed project with registry findings (real registry), valid and consistent with JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sarif_support import github_problems, make_validator, schema_errors

ROOT = Path(__file__).resolve().parents[2]


def test_mixed_project_sarif_is_valid_and_carries_the_fix(registry: Any, tmp_path: Path) -> None:
    r = registry.hostport
    (tmp_path / "svc dir").mkdir()
    (tmp_path / "svc dir" / "Dockerfile").write_text(
        f"FROM {r}/library/python:3.12-slimm AS build\n"  # PF201 with a fix
        f"FROM {r}/library/pyhton:3.12\n"  # PF202
        f"COPY --from={r}/myorg/app:latest /a /b\n",  # PF102 (exists)
        encoding="utf-8",
    )
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  web:\n    image: {r}/myorg/app:1.0.0\n    platform: linux/s390x\n"  # PF207
        f"  api:\n    build: ./svc dir\n",
        encoding="utf-8",
    )
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "DOCKER_CONFIG": str(tmp_path / "docker"), "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    argv = [sys.executable, "-m", "preflight", "check", ".", "--no-cache", "--timeout", "20",
            "--format", "sarif", "--output-json", "report.json"]  # fmt: skip
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    validator = make_validator()
    assert schema_errors(validator, doc) == [] and github_problems(doc) == []

    results = doc["runs"][0]["results"]
    where = [(x["ruleId"], x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              x["locations"][0]["physicalLocation"]["region"]["startLine"]) for x in results]  # fmt: skip
    assert where == [
        ("PF207", "compose.yaml", 3),
        ("PF201", "svc%20dir/Dockerfile", 1),
        ("PF202", "svc%20dir/Dockerfile", 2),
        ("PF102", "svc%20dir/Dockerfile", 3),
    ]
    fix = results[1]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert fix["insertedContent"]["text"] == "3.12-slim"
    line = (tmp_path / "svc dir" / "Dockerfile").read_text().splitlines()[0]
    start, end = fix["deletedRegion"]["startColumn"], fix["deletedRegion"]["endColumn"]
    assert line[start - 1 : end - 1] == "3.12-slimm"

    # The same report in JSON: same rules, paths and lines.
    data = json.loads((tmp_path / "report.json").read_text())
    assert [(f["rule"], f["path"].replace(" ", "%20"), f["line"]) for f in data["findings"]] == where
    assert data["findings"][1]["suggestions"][0] == f"{r}/library/python:3.12-slim"
    (json_fix,) = data["findings"][1]["fixes"]  # the same edit as SARIF's
    assert (json_fix["replacement"], json_fix["column"], json_fix["end_column"]) == ("3.12-slim", start, end)
