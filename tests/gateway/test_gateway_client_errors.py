"""Client errors never count against an upstream (issue #12, defect 2).

Three requests with a lone surrogate used to open both circuit breakers of a feature: the upstream
answered 500, the router counted each as an upstream fault and retried it. Now such a request is
refused at the edge (400, no upstream call), an upstream's 400 about the request's content is
passed back as a 400 without retry or fallback, and neither moves a breaker. Real gateway, real
simulator, both over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml
from gateway_helpers import make_project, rows, serve, sim_config_data

from rampway.gateway import Runtime
from rampway.providers.sim import SimServer
from rampway.providers.sim._config import SimConfig
from rampway.router import Target

NORMAL = {"model": "echo", "messages": [{"role": "user", "content": "where is my order?"}]}
# Valid JSON the gateway forwards, but the upstream refuses (400: json_schema.name missing).
UPSTREAM_400 = {**NORMAL, "response_format": {"type": "json_schema"}}
SURROGATE = json.dumps(NORMAL).replace("where is", "where \\ud800 is").encode()


async def test_poisoned_requests_leave_normal_traffic_at_100_percent(tmp_path: Path) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")
    config = SimConfig.model_validate(yaml.safe_load(yaml.safe_dump(sim_config_data())))
    with SimServer(config) as sim:
        runtime = Runtime.from_project(proj.project, sim_url=sim.openai_base_url)
        with serve(runtime) as url, httpx.Client(base_url=url, timeout=30) as http:
            normal_ok = poisoned_400 = 0
            for i in range(100):
                if i % 2:
                    bad = http.post("/v1/chat/completions", json=UPSTREAM_400)
                else:
                    bad = http.post("/v1/chat/completions", content=SURROGATE,
                                    headers={"content-type": "application/json"})
                poisoned_400 += bad.status_code == 400
                good = http.post("/v1/chat/completions", json=NORMAL)
                normal_ok += good.status_code == 200
            breaker = runtime.router.breaker(Target("sim", "sim-small")).state
            assert runtime.writer.flush(10)
            stats = sim.stats()
    assert normal_ok == 100
    assert poisoned_400 == 100
    assert breaker == "closed"
    # the surrogate requests never reached the upstream; the others were tried exactly once
    assert stats["models"]["sim-small"]["calls"] == 100
    errors = [r for r in rows(proj.db_url) if r.status == "error"]
    assert len(errors) == 50
    assert {(r.http_status, r.attempts, r.error_code) for r in errors} == {
        (400, 1, "invalid_request_error")
    }


async def test_the_gateways_own_key_refused_upstream_is_not_the_apps_401(tmp_path: Path) -> None:
    # An app seeing 401 + WWW-Authenticate blames (and rotates) its own key; the refused key is
    # the gateway's, so the answer is a 502 upstream_auth_error, and it is never retried.
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")
    data = {**sim_config_data(), "api_key": "sk-the-sims-own-key-0123456789"}
    config = SimConfig.model_validate(yaml.safe_load(yaml.safe_dump(data)))
    with SimServer(config) as sim:
        runtime = Runtime.from_project(proj.project, sim_url=sim.openai_base_url)
        with serve(runtime) as url, httpx.Client(base_url=url, timeout=30) as http:
            r = http.post("/v1/chat/completions", json=NORMAL)
    assert r.status_code == 502, r.text
    assert "www-authenticate" not in r.headers
    err = r.json()["error"]
    assert err["code"] == "upstream_auth_error" and err["type"] == "api_error"
    assert "sk-the-sims-own-key" not in r.text
