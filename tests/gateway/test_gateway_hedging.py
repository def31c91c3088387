"""Hedged requests (issue #12, "bounded time"): off by default; when `gateway.routing` sets
`hedge_after` for a target, a call it has not answered by then also goes to the next target,
the first complete answer wins and the other is cancelled; counted in /metrics, and the event
row says who answered and that hedging fired. Real gateway, simulator over HTTP with its
latency injection (a slow primary) and its hang fault."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from gateway_helpers import make_project, rows, serve, sim_config_data

from rampway.gateway import Runtime
from rampway.providers.sim import SimServer
from rampway.providers.sim._config import SimConfig

ASK = {"model": "support-bot", "user": "u-1",
       "messages": [{"role": "user", "content": "where is my order?"}]}
SLOW_S = 1.0


def _sim(primary_s: float, *, hang: bool = False) -> SimConfig:
    """Real time; sim-large answers after `primary_s` (or hangs), sim-large-2 at once."""
    data = sim_config_data()
    data["time_scale"] = 1.0
    for model, ttft in (("sim-large", primary_s), ("sim-large-2", 0.0)):
        data["models"][model]["latency"] = {"ttft_median_s": ttft, "ttft_sigma": 0.0,
                                            "per_token_ms": 0.0, "prefill_ms_per_1k_tokens": 0}
    if hang:
        data["models"]["sim-large"]["faults"].update(rate_hang=1.0, hang_s=30.0)
    return SimConfig.model_validate(yaml.safe_load(yaml.safe_dump(data)))


def _ask(tmp_path: Path, sim: SimConfig, routing: dict[str, Any]) -> tuple[Any, ...]:
    """One request through a real gateway: (response, seconds, event row, metrics, sim calls)."""
    gateway = {"events": {"flush_interval": 0.05}, "routing": routing}
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}", gateway)
    with SimServer(sim, shutdown_timeout=0.5) as srv:
        runtime = Runtime.from_project(proj.project, sim_url=srv.openai_base_url)
        with serve(runtime) as url:
            started = time.monotonic()
            r = httpx.post(url + "/v1/chat/completions", json=ASK, timeout=30)
            elapsed = time.monotonic() - started
            assert runtime.writer.flush(10)
            metrics = httpx.get(url + "/metrics").text
        calls = {m: s["calls"] for m, s in srv.stats()["models"].items()}
    (row,) = rows(proj.db_url)
    return r, elapsed, row, metrics, calls


def _hedges(metrics: str, winner: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("rampway_hedges_total{") and f'winner="{winner}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_slow_primary_is_hedged_and_the_faster_answer_wins(tmp_path: Path) -> None:
    routing = {"targets": {"sim/sim-large": {"hedge_after": 0.2}}}
    r, elapsed, row, metrics, calls = _ask(tmp_path, _sim(SLOW_S), routing)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "sim-large-2"
    assert 0.2 <= elapsed < SLOW_S  # did not wait for the slow primary
    assert row.hedged and row.model == "sim-large-2" and row.fallback_used
    assert _hedges(metrics, "hedge") == 1.0 and _hedges(metrics, "first") == 0.0
    assert calls == {"sim-large": 1, "sim-large-2": 1}


def test_a_features_hedge_covers_a_hung_primary_well_before_its_timeout(
    tmp_path: Path,
) -> None:
    routing = {"timeout": 10, "features": {"support-bot": {"hedge_after": 0.2}}}
    r, elapsed, row, _metrics, _calls = _ask(tmp_path, _sim(0.0, hang=True), routing)
    assert r.status_code == 200, r.text
    assert elapsed < 2.0 and row.hedged and row.model == "sim-large-2"
    assert row.attempts == 2  # the winner's attempt and the cancelled one


def test_a_primary_answering_before_the_threshold_is_not_hedged(tmp_path: Path) -> None:
    routing = {"hedge_after": 1.0}
    r, _elapsed, row, metrics, calls = _ask(tmp_path, _sim(0.1), routing)
    assert r.status_code == 200, r.text
    assert not row.hedged and row.model == "sim-large"
    assert "rampway_hedges_total{" not in metrics
    assert calls == {"sim-large": 1}


def test_hedging_is_off_by_default(tmp_path: Path) -> None:
    r, elapsed, row, _metrics, calls = _ask(tmp_path, _sim(0.6), {})
    assert r.status_code == 200, r.text
    assert elapsed >= 0.6 and not row.hedged and row.model == "sim-large"
    assert calls == {"sim-large": 1}
