"""Peak memory of a child process, measured from a small wrapper (``from measure import measured_run``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_MEASURE = """
import resource, subprocess, sys
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
done = subprocess.run(sys.argv[1:], capture_output=True, preexec_fn=limit)
sys.stdout.buffer.write(done.stdout)
sys.stderr.buffer.write(done.stderr)
sys.stderr.write("\\nPEAK_RSS_KB=%d\\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def measured_run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``argv`` from a small wrapper process; (result, the child's peak RSS in KiB).

    The child is forked from the wrapper, not from pytest: a forked child's ``ru_maxrss`` starts at
    its parent's size, which for pytest after hundreds of tests is over 100 MB. The child runs under a
    3 GiB address-space limit, so that a regression fails with MemoryError instead of starving the
    machine. Remove the ``PEAK_RSS_KB`` line from stderr before reading it."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    peak = re.search(r"PEAK_RSS_KB=(\d+)", done.stderr)
    assert peak is not None, done.stderr
    print(f"peak RSS: {int(peak.group(1)) / 1024:.1f} MiB")  # shown with -s
    return done, int(peak.group(1))
