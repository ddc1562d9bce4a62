"""The serial tests pass on a busy machine: the timing-sensitive ones of tests/test_serial.py
(whole sessions over a pty, short link faults with short read timeouts, the device
watchdog, the link dying, the conformance kit's state machine) run here again while four
processes keep every core busy (CI has two shared cores, often fully loaded).

They use real pseudo-terminals and the emulator's wall-clock watchdog, so they are the
ones a loaded machine could break; their assertions are built not to depend on timing
(long read timeouts where timing is not the point, lockstep links, bounded waits only a
real hang reaches). The hog is killed whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOGS = 4
SENSITIVE = ("whole_session or short_link_faults or watchdog_latches or link_lost "
             "or conformance_kit")


@pytest.mark.req("LINK-002")
def test_the_serial_tests_pass_with_every_core_busy() -> None:
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]
    try:
        env = {**os.environ, "CI": "true"}
        env.pop("IONTO_EVIDENCE_JSON", None)  # this run's results are not the evidence run's
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                              "-k", SENSITIVE, str(ROOT / "tests" / "test_serial.py")],
                             capture_output=True, text=True, timeout=1_800, cwd=ROOT, env=env)
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=30)
    assert run.returncode == 0, run.stdout[-3_000:] + run.stderr[-2_000:]
    assert " passed" in run.stdout.splitlines()[-1]
