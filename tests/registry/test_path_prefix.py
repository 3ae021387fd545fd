"""A registry below a path prefix (Artifactory's repository path method, a reverse proxy's ``/registry``),
configured as ``registries.<host>.endpoint``: the real registry behind the shim's ``path_prefix``."""

from __future__ import annotations

from pathlib import Path

from .test_e2e_registry import by_line, run_check

PREFIX = "/artifactory/api/docker/docker-local"


def test_registry_below_a_path_prefix(registry, make_shim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shim = make_shim(registry.hostport)
    shim.path_prefix = PREFIX
    shim.page_size = 2  # paged tags/list whose Link drops the prefix, as Artifactory's does (RTFACT-18971)
    dockerfile = (
        "FROM art.example.com/library/python:3.12-slim\n"
        "FROM art.example.com/library/python:3.12-slimm\n"
        "FROM art.example.com/library/pyhton:3.12-slim\n"
    )
    config = {"registries": {"art.example.com": {"endpoint": f"{shim.url}{PREFIX}/"}}}
    _code, report, stderr = run_check(tmp_path, dockerfile, config)
    lines = by_line(report)
    assert 1 not in lines, lines  # found below the prefix
    ((rule, message),) = lines[2]
    assert rule == "PF201" and 'did you mean "3.12-slim"?' in message
    ((rule, message),) = lines[3]
    assert rule == "PF202" and "art.example.com/library/python" in message  # catalog below the prefix too
    assert shim.requests and all(r.path.startswith(f"{PREFIX}/v2/") for r in shim.requests)
    assert any("last=" in r.path for r in shim.requests)  # the second page, asked below the prefix
    assert "endpoint" not in stderr
