"""Provider drift: the sim moves an alias under a running gateway; events, drift, audit, webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from lifecycle_helpers import Receiver, make_project, publish_production, serve, sim_config
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.events.tables import request_event_rows
from rampway.gateway import Runtime
from rampway.lifecycle.drift import Observation, detect_drift, read_observations
from rampway.lifecycle.watch import watch_once
from rampway.providers.sim._config import apply_patch, load_sim_config
from rampway.providers.sim._server import SimServer
from rampway.rollout.notify import Notifier
from rampway.rollout.plan import Webhook
from rampway.store import Store

CHAT = {"model": "bot", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(apply_patch(load_sim_config(), sim_config())) as server:
        yield server


def obs(served: str, first: float, last: float, fp: str | None = "fp1", n: int = 1) -> Observation:
    return Observation("bot@1", "bot", "sim", "sim-large", served, fp, first, last, n)


def test_detect_drift_reports_a_moved_alias_and_ignores_steady_answers() -> None:
    assert detect_drift([obs("a", 0, 10, n=5)]) == []
    [drift] = detect_drift([obs("a", 0, 10, n=5), obs("b", 11, 20, n=3)])
    assert (drift.kind, drift.before, drift.after, drift.after_count, drift.total) == (
        "model", "a", "b", 3, 8)
    [fp] = detect_drift([obs("a", 0, 10), obs("a", 11, 20, fp="fp2")])
    assert (fp.kind, fp.before, fp.after) == ("fingerprint", "fp1", "fp2")
    assert detect_drift([obs("a", 0, 10, fp=None), obs("a", 11, 20)]) == []


def chat(http: httpx.Client, stream: bool = False) -> None:
    body = {**CHAT, "stream": stream, "user": "u-1"}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text


def test_alias_flip_under_a_running_gateway_is_recorded_audited_and_announced(
    tmp_path: Path, db_url: str, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", db_url, sim.base_url)
    release = publish_production(proj)
    runtime = Runtime.from_project(proj)
    with serve(runtime) as url, httpx.Client(base_url=url, timeout=30) as http:
        chat(http)
        chat(http, stream=True)
        time.sleep(0.01)
        sim.patch_config({"models": {"sim-large": {"serves_as": "sim-large-2027-01",
                                                    "fingerprint": "fp_moved"}}})
        chat(http)
        chat(http, stream=True)
        assert runtime.writer.flush(10)
    with Store.open(db_url) as store:
        with store.reading() as conn:
            e = request_event_rows.c
            rows = conn.execute(sa.select(e.model, e.served_model, e.system_fingerprint)
                                .order_by(e.ts)).all()
        assert [tuple(r) for r in rows] == [("sim-large", "sim-large", "fp_rampway_sim")] * 2 + [
            ("sim-large", "sim-large-2027-01", "fp_moved")] * 2
        [drift] = detect_drift(read_observations(store, since=time.time() - 3600))
        assert (drift.release_id, drift.kind, drift.before, drift.after) == (
            release.id, "model", "sim-large", "sim-large-2027-01")
        with Receiver() as receiver:
            config = proj.root / "rampway.yaml"
            config.write_text(config.read_text() + yaml.safe_dump(
                {"rollouts": {"webhooks": [{"url": receiver.url, "events": ["model_drift"]}]}}))
            watched = CliRunner().invoke(app, ["models", "watch", "--once", "--since", "1h",
                                               "--project", str(proj.root)])
            assert watched.exit_code == 0, watched.output
            assert watch_once(store, Notifier([Webhook(url=receiver.url)]), window_s=3600) == []
        timeline = store.list_audit(object_type="release", object_id=release.id)
    assert watched.stdout == f"drift: {drift.describe()}\n"
    assert [e.action for e in timeline] == ["model.drift", "release.publish"]
    assert timeline[0].after["after"] == "sim-large-2027-01"
    assert [b["type"] for b in receiver.bodies] == ["model_drift"]  # announced once
    assert receiver.bodies[0]["release_id"] == release.id
    result = CliRunner().invoke(app, ["models", "drift", "--since", "1h", "--json",
                                      "--project", str(proj.root)])
    assert result.exit_code == 1, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    assert [d["after"] for d in doc["drift"]] == ["sim-large-2027-01"]
