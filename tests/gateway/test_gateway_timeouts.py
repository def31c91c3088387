"""Bounded, configurable time (issue #12, defect 6): a hung upstream cost 90 s (30 s per
attempt, 3 attempts on the same target before the fallback). Now `gateway.routing` sets the
per-attempt timeout, the attempts and the request's deadline, and a timeout moves straight on
to the next target. Real gateway, simulator over HTTP with its `rate_hang` fault."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_helpers import make_project, rows, serve, sim_config_data

from rampway.errors import ConfigError
from rampway.gateway import Runtime
from rampway.gateway.settings import GatewaySettings
from rampway.providers.sim import SimServer
from rampway.providers.sim._config import SimConfig
from rampway.router import Target

ASK = {"model": "support-bot", "user": "u-1",
       "messages": [{"role": "user", "content": "where is my order?"}]}


def _sim(hanging: dict[str, float]) -> SimConfig:
    data = sim_config_data()
    for model, hang_s in hanging.items():
        data["models"][model]["faults"].update(rate_hang=1.0, hang_s=hang_s)
    return SimConfig.model_validate(yaml.safe_load(yaml.safe_dump(data)))


def _project(tmp_path: Path, routing: dict[str, Any]) -> Any:
    gateway = {"events": {"flush_interval": 0.05}, "routing": routing}
    return make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}", gateway)


def test_a_hung_primary_costs_one_timeout_then_the_fallback_answers(tmp_path: Path) -> None:
    proj = _project(tmp_path, {"timeout": 5, "attempts": 3, "deadline": 8,
                               "targets": {"sim/sim-large": {"timeout": 0.4}}})
    with SimServer(_sim({"sim-large": 30.0})) as sim:
        runtime = Runtime.from_project(proj.project, sim_url=sim.openai_base_url)
        with serve(runtime) as url:
            started = time.monotonic()
            r = httpx.post(url + "/v1/chat/completions", json=ASK, timeout=30)
            elapsed = time.monotonic() - started
            assert runtime.writer.flush(10)
    assert r.status_code == 200, r.text
    assert 0.4 <= elapsed < 3.0  # one 0.4 s timeout, not 3 x 30 s
    (row,) = rows(proj.db_url)
    assert row.fallback_used and row.model == "sim-large-2" and row.attempts == 2


def test_the_deadline_bounds_a_request_whose_every_target_hangs(tmp_path: Path) -> None:
    proj = _project(tmp_path, {"timeout": 0.5, "attempts": 3, "deadline": 0.8})
    with SimServer(_sim({"sim-large": 30.0, "sim-large-2": 30.0})) as sim:
        runtime = Runtime.from_project(proj.project, sim_url=sim.openai_base_url)
        with serve(runtime) as url:
            started = time.monotonic()
            r = httpx.post(url + "/v1/chat/completions", json=ASK, timeout=30)
            elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert elapsed < 2.5


def test_routing_settings_resolve_per_provider_then_per_target() -> None:
    settings = GatewaySettings.from_config({"routing": {
        "timeout": 7, "attempts": 3,
        "targets": {"sim": {"timeout": 4, "connect_timeout": 1},
                    "sim/sim-large": {"attempts": 1}},
    }})
    limits = settings.routing.route_limits()
    large = limits.for_target(Target("sim", "sim-large"))
    assert (large.timeout_s, large.connect_timeout_s, large.attempts) == (4, 1, 1)
    other = limits.for_target(Target("openai", "gpt"))
    assert (other.timeout_s, other.connect_timeout_s, other.attempts) == (7, 2.0, 3)
    assert limits.deadline_s == 20.0  # the default: well under 30 s
    with pytest.raises(ConfigError, match="gateway.routing.timeout"):
        GatewaySettings.from_config({"routing": {"timeout": 0}})
