"""Run the real CLI in a child process and read back its peak memory: the one mechanism the tests use.

The child runs ``python -c _PEAK_BOOT <preflight args>``: it runs preflight as ``python -m preflight``
would, and at exit writes its own ``VmHWM`` (peak resident memory of this process image only, in kB)
to a file. ``ru_maxrss`` of a child forked from pytest would also count the pytest parent's pages it
held until exec, so it grew with the test session. The child runs under a 3 GiB address-space limit
(so that a regression fails with MemoryError instead of starving the machine) and a watchdog (a hang
fails the test instead of the suite).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PEAK_BOOT = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PREFLIGHT_TEST_HWM"], "w") as out:
        out.write(kb)
atexit.register(_peak)
sys.argv = ["preflight", *sys.argv[1:]]
runpy.run_module("preflight", run_name="__main__", alter_sys=True)
"""

ADDRESS_SPACE = 3 << 30


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall time, for messages only: tests never assert on it
    peak_kb: int  # the child's own VmHWM


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    preexec: Callable[[], None] | None = None,
    timeout: float = 180,
) -> Measured:
    """``preflight *args`` in ``cwd`` with exactly ``env``; its output, wall time and peak memory."""
    hwm = tempfile.NamedTemporaryFile(delete=False)
    hwm.close()
    child_env = {**env, "PREFLIGHT_TEST_HWM": hwm.name}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        if preexec is not None:
            preexec()

    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", _PEAK_BOOT, *args],
                cwd=cwd,
                env=child_env,
                stdout=out,
                stderr=err,
                preexec_fn=limit,
            )
            watchdog = threading.Timer(timeout, proc.kill)
            watchdog.start()
            try:
                code = proc.wait()
            finally:
                watchdog.cancel()
            seconds = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        peak = Path(hwm.name).read_text().strip()
    finally:
        os.unlink(hwm.name)
    assert peak, f"the child did not report its peak memory (exit {code}): {stderr[-2000:]}"
    print(f"peak RSS: {int(peak) / 1024:.1f} MiB")  # shown with -s
    return Measured(code, stdout, stderr, seconds, int(peak))
