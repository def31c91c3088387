"""`make demo` must keep working end to end: run it as `make demo` does and read what it says."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_chapter_to_the_end() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rampway.demo"], capture_output=True, text=True, timeout=900,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for marker in (
        "1. Releases are files",
        "support-bot production → support-bot@",
        "2. The eval gate",
        "rampway gate: **FAIL**",
        "3. The gateway",
        "after the rollback got support-bot@",
        "4. Staged rollout",
        "final state: rolled_back",
        "demo finished",
    ):
        assert marker in out, (marker, out[-4000:])
