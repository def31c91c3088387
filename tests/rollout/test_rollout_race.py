"""Two controller processes on one PostgreSQL racing the same rollout: every transition is
written exactly once, production moves exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rollout_helpers import FEATURE, gated_pair

from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.rollout import Controller, Plan, Status, repo
from rampway.store import Store

WORKER = Path(__file__).with_name("race_worker.py")
STEPS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def _events(baseline: str, candidate: str, start: float, seconds: float) -> list[dict[str, object]]:
    rows = []
    for i in range(int(seconds / 0.02)):
        arm, release = ("baseline", baseline) if i % 2 else ("candidate", candidate)
        rows.append({
            "id": f"req_{i}", "ts": start + i * 0.02, "feature": FEATURE, "release_id": release,
            "arm": arm, "unit_hash": None, "source": "gateway",
            "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
            "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
            "error_code": None, "latency_ms": 100.0, "ttft_ms": None, "input_tokens": 1,
            "output_tokens": 1, "cached_tokens": 0, "cost_usd": 0.0, "refusal": False,
            "finish_reason": "stop", "output_chars": 1, "prompt_text": None,
            "response_text": None,
        })
    return rows


def _start_together(procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every worker is connected, then tell them all to go (no wall-clock start
    time: a worker that took longer than that to start would not race at all)."""
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line == "ready\n", line + proc.communicate(timeout=60)[1]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_controller_processes_never_double_advance(pg_database_url: str) -> None:
    store = Store.open(pg_database_url)
    try:
        baseline, candidate = gated_pair(store)
        now = time.time()
        with store.transaction() as conn:
            conn.execute(request_events.insert(),
                         with_shape_ids(conn, _events(baseline, candidate, now, 120)))
        plan = Plan.model_validate({
            "steps": [{"weight": w} for w in STEPS],
            "guardrails": [{"metric": "error_rate", "critical": True, "min_sample": 5}],
            "srm": False,  # the events alternate arms 50/50 whatever the weight: a real SRM
        })
        Controller(store).start(FEATURE, candidate, plan=plan, actor="ana")
        procs = [
            subprocess.Popen(  # noqa: S603 — our own worker script
                [sys.executable, str(WORKER), pg_database_url, FEATURE],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(2)
        ]
        _start_together(procs)
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(json.loads(out))
        done = repo.latest(store, FEATURE)
        assert done is not None and done.status is Status.COMPLETED
        entries = [e for e in reversed(store.list_audit(object_type="rollout", limit=1000))
                   if e.action not in ("rollout.create", "rollout.start")]
        assert [e.action for e in entries] == ["rollout.advance"] * 8 + ["rollout.complete"]
        versions = [e.before["version"] for e in entries]
        assert versions == list(range(versions[0], versions[0] + 9))  # one write per version
        assert [e.after["weight_bp"] for e in entries] == [w * 100 for w in STEPS[1:]]
        moved = sorted(v for o in outputs for v, _, _ in o["moved"])
        assert moved == [v + 1 for v in versions]  # each transition claimed by one process
        assert sum(o["lost"] for o in outputs) > 0  # they really raced
        moves = [m for m in store.channel_history(FEATURE, "production")
                 if m.to_release == candidate]
        assert len(moves) == 1
    finally:
        store.close()
