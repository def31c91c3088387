"""Stores for the dashboard's pages, written through the real code paths: history (the
timeline's seed) and a rollout in flight with real looks (simulated traffic judged by the real
controller once a minute), a failing gate report, a running experiment with traffic, and a
shadow whose candidate is flagged as verbose."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass

from experiment_helpers import definition, published
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, plan
from timeline_seed import Seeded, seed

from rampway.events.model import hash_unit
from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import ActiveExperiments, ExperimentRecord
from rampway.experiments import repo as experiments
from rampway.gate import GateRecord, record_gate
from rampway.gate.model import AxisEstimate, CaseChange, GateInput, Interval
from rampway.gate.policy import Policy, decide
from rampway.gate.report import GateReport
from rampway.rollout import Controller, RolloutRecord
from rampway.shadow import Definition as ShadowDefinition
from rampway.shadow import ShadowRecord
from rampway.shadow import repo as shadow_repo
from rampway.shadow.pairs import PairRow
from rampway.shadow.tables import shadow_pairs
from rampway.store import Store

LIVE_PLAN = {
    "steps": [{"weight": 10, "dwell": "1h"}, {"weight": 100}],
    "guardrails": [
        {"metric": "error_rate", "margin": {"absolute": 0.05}, "critical": True, "min_sample": 50},
        {"metric": "latency_p95", "margin": {"relative": 0.5}, "min_sample": 50},
    ],
}


@dataclass(frozen=True)
class Live:
    seeded: Seeded
    rollout: RolloutRecord


def live_rollout(store: Store, minutes: int = 4) -> Live:
    """`seed`, then a second rollout of the candidate at 10% with `minutes` of looks, ending now."""
    seeded = seed(store)
    clock = FakeClock(time.time() - 60 * minutes)
    controller = Controller(store, clock=clock)
    controller.start(FEATURE, seeded.candidate, plan=plan(**LIVE_PLAN), actor="ana",
                     reason="second try")
    sim = Simulation(store, controller, clock,
                     {"baseline": seeded.baseline, "candidate": seeded.candidate},
                     {"baseline": Profile(), "candidate": Profile()}, per_minute=400,
                     units=3000)
    return Live(seeded, sim.run(minutes))


def failing_gate(store: Store, candidate: str, baseline: str) -> GateRecord:
    """A real FAIL decision (the default policy decides it) with every table the report has:
    a quality axis that dropped, cost and latency, two newly failing cases (one critical, with
    outputs side by side), newly passing and flaky cases."""
    axes = {
        "exact": AxisEstimate("exact", "quality", 0.9, 0.8, -10.0, Interval(-14.5, -5.5),
                              Interval(-15.0, -5.0), n=40),
        "cost": AxisEstimate("cost", "cost", 0.0012, 0.0009, -25.0, Interval(-30.0, -20.0)),
        "latency_p95": AxisEstimate("latency_p95", "latency", 0.9, 1.1, 22.2,
                                    Interval(10.0, 35.0)),
    }
    failing = (
        CaseChange("refund-policy", True, 1.0, 0.0, "Refunds within 30 days.",
                   "Refunds within <90> days.", ("exact",), ("expected '30 days'",)),
        CaseChange("greeting", False, 1.0, 0.33, "Hello!", "Hi.", ("contains",)),
    )
    data = GateInput(feature=FEATURE, traffic_class="chat", n_cases=40, repeats=3,
                     confidence=0.95, axes=axes, newly_failing=failing,
                     newly_passing=("tone-1", "tone-2"), flaky=("weather",),
                     noise_floor={"exact": 1.5}, baseline=baseline, candidate=candidate)
    decision = decide(Policy(), data)
    report = GateReport(data, Policy(), decision, "policies/support-bot.yaml",
                        suite_digest="5e" * 32)
    return record_gate(store, report, actor="ci")


def running_experiment(store: Store, feature: str = "faq-bot", hours: int = 6,
                       units: int = 400, ids: list[str] | None = None) -> ExperimentRecord:
    """An experiment of `feature` (control: production; `ids` its releases, production first,
    else two published here) started `hours` ago with traffic assigned by the real
    `ActiveExperiments`: each unit's first request at a random time, a second one some hours
    later for about half of them (the treatment's users come back more), thumbs-up feedback."""
    ids = ids or published(store, feature)
    now = time.time()
    record = experiments.start(store, "greeting", definition(feature), ids, actor="ana",
                               reason="friendlier greeting", now=now - hours * 3600)
    active = ActiveExperiments.of([record])
    rng = random.Random(7)
    requests, feedback = [], []
    for i in range(units):
        unit = f"user-{i}"
        chosen = active.choose(feature, unit)
        arm, release = chosen if chosen else ("production", record.control.release_id)
        first = record.started_at + rng.uniform(0, hours * 3600 * 0.5)
        visits = [first]
        if rng.random() < (0.6 if arm != "control" else 0.4):
            visits.append(min(now - 1, first + rng.uniform(0.5, hours / 2) * 3600))
        for k, ts in enumerate(visits):
            rid = f"req_{record.id}_{i}_{k}"
            requests.append(_event(rid, ts, feature, release, arm, hash_unit(unit)))
            feedback.append({"id": f"fb_{rid}", "ts": ts + 1, "name": "thumbs_up",
                             "value": float(rng.random() < 0.7), "request_id": rid,
                             "unit_hash": hash_unit(unit), "feature": feature})
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, requests))
        conn.execute(feedback_events.insert(), feedback)
    return record


def _event(rid: str, ts: float, feature: str, release: str, arm: str,
           unit_hash: str | None) -> dict[str, object]:
    return {
        "id": rid, "ts": ts, "feature": feature, "release_id": release, "arm": arm,
        "unit_hash": unit_hash, "source": "gateway", "protocol": "openai", "stream": False,
        "provider": "sim", "model": "sim-large", "attempts": 1, "fallback_used": False,
        "status": "ok", "http_status": 200, "latency_ms": 100.0 + len(rid) % 50,
        "input_tokens": 10, "output_tokens": 20, "cached_tokens": 0, "cost_usd": 0.001,
        "refusal": False, "output_chars": 40,
    }


def verbose_shadow(store: Store, baseline: str, candidate: str, pairs: int = 240,
                   twins: int = 120) -> ShadowRecord:
    """A running shadow of `candidate` whose answers are about three times as long as the
    primary's (a class the report flags), with twin pairs that match the primary (the floor).
    Each pair's primary is a request event with its prompt and answer kept."""
    definition = ShadowDefinition.model_validate({
        "feature": FEATURE, "candidates": [candidate], "sample": 100, "twin": 30,
        "budget": {"usd_per_day": 100, "requests_per_s": 1000}})
    now = time.time()
    record = shadow_repo.start(store, "v2-on-prod", definition, [candidate], actor="ana",
                               reason="check the tone", now=now - 600)
    events, rows = [], []
    for i in range(pairs + twins):
        rid, unit = f"req_shadow_{i}", hash_unit(f"user-{i % 150}")
        answer = f"Your order {i} ships on Monday."
        ts = now - 590 + i
        event = _event(rid, ts, FEATURE, baseline, "production", unit)
        event.update(prompt_text=f'{{"messages": [{{"role": "user", "content": "where is '
                                 f'order {i}?"}}]}}', response_text=answer,
                     output_chars=len(answer))
        events.append(event)
        twin = i >= pairs
        text = answer if twin else f"{answer} Thank you so much for asking! " * 3
        rows.append(asdict(PairRow(
            shadow_id=record.id, shadow=record.name, request_id=rid,
            kind="twin" if twin else "candidate", unit_hash=unit, ts=ts + 0.5,
            release_id=baseline if twin else candidate, provider="sim", model="sim-small",
            status="ok", error_code=None, latency_ms=110.0 + i % 7, ttft_ms=None,
            input_tokens=10, output_tokens=len(text) // 4, cost_usd=0.001, finish_reason="stop",
            refusal=False, tool_calls=None, output_chars=len(text), output_text=text)))
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, events))
        conn.execute(shadow_pairs.insert(), rows)
    return record
