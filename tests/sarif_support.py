"""SARIF checks shared by the SARIF tests: the OASIS schema with format checking, and what
GitHub code scanning needs beyond it (integration.md §2)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import jsonschema
import pytest
from sharedfiles import SARIF_SCHEMA

SCHEMA_PATH = SARIF_SCHEMA


def make_validator() -> Any:
    if importlib.util.find_spec("rfc3986_validator") is None:  # without it uri-reference is not checked
        pytest.fail("the test dependency rfc3986-validator is missing (pip install -e '.[test]')")
    if not SCHEMA_PATH.parent.parent.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"SARIF schema missing at {SCHEMA_PATH}")
        pytest.skip("../shared is absent")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_errors(validator: Any, doc: dict[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}/{i}")


def github_problems(doc: dict[str, Any]) -> list[str]:
    """What the schema cannot check (integration.md §2)."""
    empty = [p for p, v in _walk(doc) if v is None or v == "" or v == [] or v == {}]
    out = [f"{p}: null or empty" for p in empty if p != "/runs/0/results"]  # results may be empty
    if not doc.get("$schema"):
        out.append("$schema missing")
    if len(doc["runs"]) != 1:
        out.append("not exactly one run")
    run = doc["runs"][0]
    if not run.get("automationDetails", {}).get("id", "").endswith("/"):
        out.append("automationDetails.id does not end in /")
    rules = run["tool"]["driver"].get("rules", [])
    ids = [r["id"] for r in rules]
    if ids != sorted(set(ids)):
        out.append(f"rules not sorted and unique: {ids}")
    out += _rule_problems(rules)
    if len(run["results"]) > 25_000:
        out.append("more than 25,000 results")
    for i, res in enumerate(run["results"]):
        out += [f"result {i}: {problem}" for problem in _result_problems(res, ids)]
    return out


def _rule_problems(rules: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rules:
        for key in ("shortDescription", "fullDescription", "help"):
            if not r.get(key, {}).get("text"):
                out.append(f"{r['id']}: no {key}.text")
        if len(r["shortDescription"]["text"]) > 1024 or len(r["fullDescription"]["text"]) > 1024:
            out.append(f"{r['id']}: description over 1024 characters")
        if len(r.get("properties", {}).get("tags", [])) > 20:
            out.append(f"{r['id']}: more than 20 tags")
    return out


def _result_problems(res: dict[str, Any], ids: list[str]) -> list[str]:
    out = []
    if res["ruleId"] not in ids or ids.index(res["ruleId"]) != res.get("ruleIndex"):
        out.append("ruleId/ruleIndex inconsistent")
    if "primaryLocationLineHash" in res.get("partialFingerprints", {}):
        out.append("primaryLocationLineHash must be left to upload-sarif")
    locations = res.get("locations", [])
    if not locations or "startLine" not in locations[0]["physicalLocation"].get("region", {}):
        out.append("no location with region.startLine")
        return out
    uri = locations[0]["physicalLocation"]["artifactLocation"]["uri"]
    if uri.startswith("/") or "\\" in uri or re.match(r"^[a-zA-Z][\w+.-]*:", uri) or quote(unquote(uri)) != uri:
        out.append(f"uri {uri!r} is not relative, POSIX and percent-encoded")
    return out
