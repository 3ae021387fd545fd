"""The fault matrix: every case of tests/registry/test_faults.py once through the CLI, as a table.

Starts real Distribution 2.8 registries (open, Basic, token, TLS) and the token server with the
tests' own helpers, runs each case one after another (so the times are not disturbed by each
other), checks it as the test does, and prints a Markdown table for README "Reliability":
case | rule | what the user sees (first 100 characters, loopback ports shown as ``127.0.0.1:P``) |
wall time (and the --timeout given).

    python bench/fault_matrix.py
"""

from __future__ import annotations

import os
import re
import shutil
import socketserver
import ssl
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trustme

from tests.registry.images import push_fixture_set
from tests.registry.servers import (
    BasicRegistry,
    OpenRegistry,
    TLSRegistry,
    TokenRegistry,
    htpasswd_auth,
    start_registry,
    token_auth,
)
from tests.registry.test_faults import CASES, Lab, Outcome, Servers, check, execute, stall_everywhere
from tests.registry.token_server import TokenServer


def start_lab(stack: ExitStack, work: Path) -> tuple[Lab, Servers]:
    """The registries the fault cases need, stopped when ``stack`` closes."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    root = work / "data"

    def registry(name: str, **extra: object):  # type: ignore[no-untyped-def]
        process = start_registry(binary, work, root, name=name, **extra)  # type: ignore[arg-type]
        stack.callback(process.stop)
        return process

    open_ = registry("open")
    pushed = push_fixture_set(open_.url)
    basic = registry("basic", auth=htpasswd_auth(work))
    tokens = TokenServer(work).start()
    stack.callback(tokens.stop)
    token = registry("token", auth=token_auth(tokens.realm, tokens.service, tokens.issuer, tokens.certificate_path))
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert, key = work / "ca.pem", work / "server.crt", work / "server.key"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context(cafile=str(ca_path))
    tls = registry("tls", tls={"certificate": str(cert), "key": str(key)}, ready_context=context)

    opened = OpenRegistry(
        open_.url,
        open_.hostport,
        open_.port,
        pushed.digests,
        pushed.children,
        pushed.manifests,
        open_.log_path,
        root,
        open_,
    )
    servers = Servers(opened)
    stack.callback(servers.stop)
    lab = Lab(
        opened,
        BasicRegistry(basic.url, basic.hostport, basic.port, basic.log_path),
        TokenRegistry(
            token.url, token.hostport, token.port, tokens.realm, tokens.service, tokens.issuer, token.log_path
        ),
        tokens,
        TLSRegistry(tls.url, tls.hostport, tls.port, ca_path, context, tls.log_path),
        servers.proxy,
        servers.shim,
        work,
    )
    return lab, servers


def shown(outcome: Outcome) -> str:
    """The finding's message, else the first warning, else that the reference passed."""
    text = outcome.message
    if not text:
        warnings = [
            line.removeprefix("preflight: warning: ")
            for line in outcome.stderr.splitlines()
            if line.startswith("preflight: warning: ")
        ]
        text = f"(no finding) {warnings[0]}" if warnings else "(no finding: checked normally)"
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:P", " ".join(text.split())).replace("|", "\\|")
    return text if len(text) <= 100 else text[:99] + "…"


_handle_error = socketserver.BaseServer.handle_error


def _quiet(server: socketserver.BaseServer, request: object, client_address: object) -> None:
    """The test servers see clients hang up (a discarded 503 body): not worth a traceback."""
    if not isinstance(sys.exc_info()[1], ConnectionError):
        _handle_error(server, request, client_address)


def main() -> int:
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    socketserver.BaseServer.handle_error = _quiet  # type: ignore[method-assign]
    rows: list[tuple[str, str, str, str]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp, ExitStack() as stack:
        lab, servers = start_lab(stack, Path(tmp))
        for i, case in enumerate(CASES):
            lab.tmp = Path(tmp) / f"case-{i}"
            lab.tmp.mkdir()
            lab.token_server.reset()
            plan, outcome = execute(lab, case)
            try:
                check(case, plan, outcome)
            except AssertionError as exc:
                failed.append(f"{case.name}: {' '.join(str(exc).split())[:200]}")
            rows.append(
                (
                    case.name,
                    outcome.rule or "—",
                    shown(outcome),
                    f"{outcome.seconds:.1f} s (--timeout {case.timeout:g})",
                )
            )
        everywhere = Path(tmp) / "stall-everywhere"
        everywhere.mkdir()
        outcome = stall_everywhere(lab.registry, servers.proxy, everywhere)
        rows.append(
            (
                "stall on every request, 8 references",
                f"{outcome.rule} ×2",
                shown(outcome),
                f"{outcome.seconds:.1f} s (--timeout 2)",
            )
        )
    print("| case | rule | what the user sees | wall time |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{len(CASES) - len(failed)} of {len(CASES)} cases as the tests expect" + (":" if failed else "."))
    for line in failed:
        print(f"  FAILED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main()
    print(f"(whole matrix: {time.monotonic() - t0:.1f} s)")
    sys.exit(code)
