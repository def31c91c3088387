"""`rampway models plan`: per feature on a model going away, dates, successor, gate, next step."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lifecycle_helpers import make_project, publish_production, sim_config
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401
    app,
)
from rampway.config import Project
from rampway.gateway import GatewayApp, Runtime
from rampway.lifecycle.migration import FeaturePlan, GateSummary, gate_summary, shifts_from
from rampway.providers.catalog import Sunset
from rampway.providers.sim._config import apply_patch, load_sim_config
from rampway.providers.sim._server import SimServer
from rampway.shadow import repo
from rampway.shadow.spec import Definition
from rampway.store import Store

TODAY = "2027-01-10"
SUNSET = Sunset("bot", "primary", "sim", "sim-large", "deprecating", dt.date(2027, 2, 1),
                "sim-large-2", dt.date(2027, 2, 1), dt.date(2027, 5, 1))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(apply_patch(load_sim_config(), sim_config())) as server:
        yield server


def cli(proj: Project, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--project", str(proj.root)])


def test_next_action_follows_the_gate_and_the_successor() -> None:
    def action(gate: str | None = None, blocked: str | None = None) -> str:
        summary = None if gate is None else GateSummary(1, gate, (), ())
        return FeaturePlan("bot", "bot@1", "sim/sim-large", (SUNSET,), "sim/sim-large-2",
                           "bot@2", blocked, summary).action

    assert action("pass") == "ready to roll out"
    assert action("fail") == "needs prompt work"
    assert action("inconclusive") == "needs more evidence"
    assert action() == "gate it"
    assert action(blocked="sim/sim-small has no successor in the catalog") == (
        "blocked: no successor")


def test_gate_deltas_and_behaviour_shifts_are_read_from_the_records() -> None:
    axes = {"pass_rate": {"kind": "quality", "change": 2.5}, "cost": {"kind": "cost",
                                                                      "change": 12.0},
            "latency_p50": {"kind": "latency", "change": 1.0},
            "latency_p95": {"kind": "latency", "change": -28.0}}
    summary = gate_summary(7, "pass", {"comparison": {"axes": axes},
                                        "decision": {"reasons": ["quality ok"]}})
    assert [d.render() for d in summary.deltas] == ["quality +2.5 pts", "cost +12.0 %",
                                                    "latency −28.0 %"]
    shifts = shifts_from([
        {"class": "text:different", "candidate_rate": 0.9, "floor_rate": 0.5, "flagged": True},
        {"class": "verbosity:longer_1.5x", "candidate_rate": 0.6, "floor_rate": 0.05,
         "flagged": True},
        {"class": "tool_call:added", "candidate_rate": 0.0, "floor_rate": 0.0,
         "flagged": False},
        {"class": "failure:invalid_json", "candidate_rate": 0.1, "floor_rate": 0.0,
         "flagged": False}])
    assert [(s.heading, s.name) for s in shifts] == [
        ("verbosity", "verbosity:longer_1.5x"), ("JSON adherence", "failure:invalid_json"),
        ("tool use", "tool_call:added")]


async def _mirror(proj: Project, candidate: str, n: int) -> None:
    """A shadow of production to `candidate`, and `n` requests through the gateway."""
    definition = Definition.model_validate({
        "feature": "bot", "candidates": [candidate], "sample": 100, "twin": 100,
        "budget": {"usd_per_day": 100, "requests_per_s": 1000}})
    with Store.open(proj.db_url) as store:
        repo.start(store, "large-2", definition, [candidate], actor="ana", reason="test",
                   now=time.time())
    runtime = Runtime.from_project(proj)
    await runtime.start()
    try:
        deadline = time.monotonic() + 10
        while not runtime.watcher.snapshot.shadows.for_feature("bot"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=GatewayApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for i in range(n):
                # temperature 0: the simulator's seeded answers, so the shadow's shifts are
                # sim-large-2's own (more words), not a draw of fresh randomness at 40 pairs
                body = {"model": "bot", "user": f"u-{i}", "temperature": 0, "messages": [
                    {"role": "user", "content": f"What is {i} + {i + 1}? Explain."}]}
                response = await client.post("/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text
        await runtime.shadow.drain()
        assert runtime.shadow.writer.flush(5) and runtime.writer.flush(5)
    finally:
        await runtime.stop()


def test_plan_after_an_upgrade_shows_the_gate_the_shadow_and_the_flags(
    tmp_path: Path, db_url: str, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", db_url, sim.base_url)
    base = publish_production(proj)
    (proj.root / "flags").mkdir()
    (proj.root / "flags" / "bot.yaml").write_text(yaml.safe_dump({"flags": {"bot.model": {
        "type": "string", "default": "sim/sim-small",
        "rules": [{"condition": {"plan": "pro"}, "value": "sim/sim-large"}]}}}))
    upgraded = cli(proj, "models", "upgrade", "bot", "--as-of", TODAY, "--json")
    assert upgraded.exit_code in (0, 1, 3), upgraded.output
    made = json.loads(upgraded.stdout)["upgrades"][0]
    asyncio.run(_mirror(proj, made["candidate"], 40))
    result = cli(proj, "models", "plan", "--as-of", TODAY, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [feature] = doc["features"]
    assert (feature["feature"], feature["release_id"], feature["model"]) == (
        "bot", base.id, "sim/sim-large")
    assert (feature["successor"], feature["candidate"]) == ("sim/sim-large-2",
                                                           made["candidate"])
    assert [(s["role"], s["status"], s["date"]) for s in feature["sunsets"]] == [
        ("primary", "deprecating", "2027-02-01")]
    gate = feature["gate"]
    assert gate["verdict"] == made["gate"]["verdict"]
    assert [d["label"] for d in gate["deltas"]] == ["quality", "cost", "latency"]
    assert feature["next_action"] == {"pass": "ready to roll out",
                                      "fail": "needs prompt work"}.get(gate["verdict"],
                                                                       "needs more evidence")
    shadow = feature["shadow"]
    assert shadow["name"] == "large-2" and shadow["pairs"] >= 10  # some are twins
    flagged = [s["class"] for s in shadow["shifts"] if s["flagged"]]
    assert any(c.startswith("verbosity:longer") for c in flagged), shadow  # sim-large-2 talks more
    assert [(f["flag"], f["where"], f["model"]) for f in doc["flags"]] == [
        ("bot.model", "rules[0].value", "sim-large")]
    md = cli(proj, "models", "plan", "--as-of", TODAY, "--format", "md").stdout
    assert "| bot | primary `sim/sim-large` | 2027-02-01 | 2027-05-01 | `sim/sim-large-2` |" in md
    assert "verbosity: verbosity:longer" in md and "### Flags naming a model going away" in md
    text = cli(proj, "models", "plan", "--as-of", TODAY).stdout
    assert text.startswith(f"bot: {feature['next_action']}\n")


def test_plan_without_successor_is_blocked_and_says_so(tmp_path: Path, sim: SimServer) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}", sim.base_url,
                        catalog=[{"provider": "sim", "model": "sim-small",
                                  "deprecation_date": "2027-02-01"}],
                        release={"provider": "sim", "model": "sim-small",
                                 "messages": {"system": "prompts/system.md"}})
    doc = json.loads(cli(proj, "models", "plan", "--as-of", TODAY, "--json").stdout)
    [feature] = doc["features"]
    assert feature["next_action"] == "blocked: no successor"
    assert feature["command"] == "rampway models upgrade bot --to MODEL"
    quiet = cli(proj, "models", "plan", "--as-of", "2026-01-01", "--within", "30d")
    assert quiet.stdout.startswith("ok: no feature or flag uses a model")
    bad = cli(proj, "models", "plan", "--format", "html")
    assert bad.exit_code == 2 and "--format: expected one of text, md, json" in bad.stderr
