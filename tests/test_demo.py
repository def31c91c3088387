"""`make demo` must keep working end to end: run it as `make demo` does and read what it says."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.timeout(900)  # five chapters with real waits: ~4 min alone, more on a busy machine
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
        "5. A/B experiment",
        "$ rampway experiment analyze v2-answers",
        "demo finished",
    ):
        assert marker in out, (marker, out[-4000:])
    chapter5 = out[out.index("5. A/B experiment"):]
    assert re.search(r"v2-answers#\d+ started on support-bot", chapter5), chapter5[-4000:]
    # The analysis saw both arms (units per arm, from the gateway's event log) and decided.
    arms = re.search(r"^arms: control (\d+) units/\d+ req \(50%\), v2 (\d+) units", chapter5,
                     re.MULTILINE)
    assert arms is not None and min(int(arms[1]), int(arms[2])) > 0, chapter5[-4000:]
    decision = re.search(r"^DECISION: (SHIP V2|DON'T SHIP|KEEP RUNNING|NO DETECTABLE "
                         r"DIFFERENCE) — \S", chapter5, re.MULTILINE)
    assert decision is not None, chapter5[-4000:]
    assert re.search(r"v2-answers#\d+ stopped on support-bot", chapter5), chapter5[-4000:]
