"""Shared helpers for rollout tests: releases in a store, a fake clock, and a traffic simulator
that writes event rows directly (sim-like distributions, assignment through the real
`ActiveAllocations`), so hours of rollout run in seconds."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from rampway.assign import BUCKETS, Allocation
from rampway.events.model import FeedbackEvent, RequestEvent, hash_unit
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.gate import GateRecord, record_gate
from rampway.gate.current import current_basis
from rampway.gate.model import CaseChange, GateInput, Verdict
from rampway.gate.policy import Policy, decide
from rampway.gate.report import GateReport
from rampway.rollout import ActiveAllocations, Controller, Plan, RolloutRecord, repo
from rampway.store import Store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FEATURE = "support-bot"


def publish(store: Store, feature: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    release_id = f"{feature}@{digest[:8]}"
    store.publish(feature, digest, release_id, text, actor="test", reason="test")
    return release_id


def publish_pair(store: Store, feature: str = FEATURE) -> tuple[str, str]:
    """(baseline, candidate) release ids; production → baseline."""
    baseline = publish(store, feature, f"{feature} v1")
    candidate = publish(store, feature, f"{feature} v2")
    store.set_channel(feature, "production", baseline, actor="test", reason="initial")
    return baseline, candidate


GATE_SUITE = """\
cases:
  - {id: hello, input: "Hi!", expect: {greets: "hello"}}
scorers:
  greets: {type: contains}
"""


def give_gate_basis(root: Path, feature: str = FEATURE) -> str:
    """Give `feature` an eval suite and a gate policy in the project at `root` — the policy
    being `Policy()`, which `record_verdict` decides under — and return the suite's digest.
    A recorded gate counts only under the policy and suite the project has now."""
    (root / "evals" / feature).mkdir(parents=True, exist_ok=True)
    (root / "evals" / feature / "suite.yaml").write_text(GATE_SUITE)
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / f"{feature}.yaml").write_text("min_cases: 10\n")
    digest = current_basis(root, feature).suite_digest
    assert digest is not None
    return digest


def record_verdict(
    store: Store, candidate: str, baseline: str, verdict: str = "pass", feature: str = FEATURE,
    suite_digest: str = "5e" * 32,
) -> GateRecord:
    """Record a real gate decision (the policy decides it) of `candidate` against `baseline`:
    pass with nothing failing, fail with a critical case newly failing, inconclusive on too few
    cases — as `rampway gate` would after its evals (under `Policy()` and `suite_digest`)."""
    wanted = Verdict(verdict)
    failing = (CaseChange("refund-policy", True, 1.0, 0.0, "30 days", "90 days", ("exact",)),)
    data = GateInput(
        feature=feature, traffic_class="chat", repeats=3, confidence=0.95, axes={},
        n_cases=3 if wanted is Verdict.INCONCLUSIVE else 40,
        newly_failing=failing if wanted is Verdict.FAIL else (),
        baseline=baseline, candidate=candidate,
    )
    decision = decide(Policy(), data)
    assert decision.verdict is wanted
    report = GateReport(data, Policy(), decision, "default policy", suite_digest=suite_digest)
    return record_gate(store, report, actor="ci")


def gated_pair(store: Store, feature: str = FEATURE) -> tuple[str, str]:
    """`publish_pair`, plus a recorded passing gate of the candidate against the baseline."""
    baseline, candidate = publish_pair(store, feature)
    record_verdict(store, candidate, baseline, feature=feature)
    return baseline, candidate


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass(frozen=True)
class Profile:
    """How one release behaves (sim-like): error rate and log-normal latency."""

    error_p: float = 0.05
    latency_ms: float = 800.0  # median
    sigma: float = 0.5
    fallback_p: float = 0.02
    tokens: float = 120.0
    thumbs_up_p: float = 0.7


#: Guardrails a healthy candidate can be *shown* to meet within a 10-minute step at the
#: simulations' traffic (a guardrail passes only when its interval excludes harm beyond the
#: margin): a tight relative margin on a 5% error rate would need ~40 minutes at 5%.
PROVABLE = [
    {"metric": "error_rate", "margin": {"absolute": 0.02}, "critical": True, "min_sample": 200},
    {"metric": "latency_p95", "margin": {"relative": 0.2}, "critical": True, "min_sample": 200},
]


#: Half the traffic, then all of it, judged on the two guardrails a failing model trips.
GATEWAY_PLAN = Plan.model_validate({
    "steps": [{"weight": 50, "dwell": 0}, {"weight": 100}],
    "guardrails": [
        {"metric": "error_rate", "critical": True, "min_sample": 30},
        {"metric": "fallback_rate", "critical": True, "min_sample": 30},
    ],
})


def plan(**overrides: Any) -> Plan:
    data: dict[str, Any] = {
        "steps": [{"weight": 5, "dwell": "10m"}, {"weight": 25, "dwell": "10m"},
                  {"weight": 50, "dwell": "10m"}, {"weight": 100}],
        "guardrails": [
            {"metric": "error_rate", "margin": {"relative": 0.2}, "critical": True,
             "min_sample": 200},
            {"metric": "latency_p95", "margin": {"relative": 0.2}, "critical": True,
             "min_sample": 200},
        ],
    }
    data.update(overrides)
    return Plan.model_validate(data)


@dataclass
class Simulation:
    store: Store
    controller: Controller
    clock: FakeClock
    releases: dict[str, str]  # arm -> release id ("baseline", "candidate")
    profiles: dict[str, Profile]
    per_minute: int = 3000
    units: int = 20_000
    seed: int = 7
    feature: str = FEATURE
    skew: float = 1.0  # a broken split: the candidate arm gets `skew` times its weight
    unit_feedback: bool = False  # feedback names the unit only (no request id)
    sink: SqlEventSink | None = None  # write through it (as gateways do), else insert rows
    arms_seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    last_arm: dict[str, str] = field(default_factory=dict)
    switches: list[tuple[str, str]] = field(default_factory=list)
    history: list[tuple[float, str, int]] = field(default_factory=list)
    _n: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def minute(self) -> None:
        """One simulated minute of traffic, then one controller look."""
        allocations = ActiveAllocations.load(self.store)
        rows, feedback = [], []
        units = self.rng.integers(self.units, size=self.per_minute)
        for i, u in enumerate(units):
            unit = f"user-{u}"
            choice = allocations.choose(self.feature, unit)
            if choice and self.skew != 1.0:
                choice = self._skewed(allocations, unit)
            arm, release = choice if choice else ("production", self.releases["baseline"])
            if choice:
                self._track(unit, arm)
            row = self._row(arm, release, unit, self.clock.t + 60.0 * i / self.per_minute)
            rows.append(row)
            if self.rng.random() < 0.3:
                p = self.profiles[self._profile_key(arm)].thumbs_up_p
                feedback.append(self._feedback(row, float(self.rng.random() < p)))
        if self.sink is not None:
            self.sink.write([RequestEvent(**r) for r in rows],
                            [FeedbackEvent(**f) for f in feedback])
        else:
            with self.store.transaction() as conn:
                conn.execute(request_events.insert(), with_shape_ids(conn, rows))
                if feedback:
                    conn.execute(feedback_events.insert(), feedback)
        self.clock.advance(60)
        self.controller.tick()
        current = self.rollout()
        self.history.append((self.clock.t, current.status.value, current.weight_bp))

    def _skewed(self, allocations: ActiveAllocations, unit: str) -> tuple[str, str]:
        """The arm under the rollout's own salt at `skew` x its weight (sticky still)."""
        active = allocations.get(self.feature)
        assert active is not None
        weight = min(BUCKETS, round(active.weight_bp * self.skew))
        split = Allocation.rollout(active.allocation.salt, candidate="candidate",
                                   baseline="baseline", weight_bp=weight)
        arm = split.assign(unit) or "baseline"
        return arm, self.releases[arm]

    def _track(self, unit: str, arm: str) -> None:
        self.arms_seen[unit].add(arm)
        previous = self.last_arm.get(unit)
        if previous is not None and previous != arm:
            self.switches.append((previous, arm))
        self.last_arm[unit] = arm

    def _profile_key(self, arm: str) -> str:
        return "candidate" if arm == "candidate" else "baseline"

    def _row(self, arm: str, release: str, unit: str, ts: float) -> dict[str, Any]:
        p = self.profiles[self._profile_key(arm)]
        self._n += 1
        error = bool(self.rng.random() < p.error_p)
        latency = float(p.latency_ms * math.exp(p.sigma * self.rng.standard_normal()))
        return {
            "id": f"req_{self.seed}_{self._n}", "ts": ts, "feature": self.feature,
            "release_id": release, "arm": arm, "unit_hash": hash_unit(unit),
            "source": "gateway", "protocol": "openai", "stream": True,
            "provider": "sim", "model": "sim-large", "attempts": 1,
            "fallback_used": bool(self.rng.random() < p.fallback_p),
            "status": "error" if error else "ok", "http_status": 502 if error else 200,
            "error_code": "server_error" if error else None, "latency_ms": latency,
            "ttft_ms": latency * 0.2, "input_tokens": 50,
            "output_tokens": int(self.rng.poisson(p.tokens)), "cached_tokens": 0,
            "cost_usd": 0.001, "refusal": False, "finish_reason": "stop",
            "output_chars": 400, "prompt_text": None, "response_text": None,
        }

    def _feedback(self, row: dict[str, Any], value: float) -> dict[str, Any]:
        request_id = None if self.unit_feedback else row["id"]
        return {"id": "fb_" + row["id"], "ts": row["ts"] + 5, "name": "thumbs_up",
                "value": value, "request_id": request_id, "unit_hash": row["unit_hash"],
                "feature": self.feature, "attributes": None}

    def rollout(self) -> RolloutRecord:
        found = repo.latest(self.store, self.feature)
        assert found is not None
        return found

    def run(self, minutes: int, until: str | None = None) -> RolloutRecord:
        """Simulate until the rollout finishes (or reaches status `until`) or `minutes` pass."""
        for _ in range(minutes):
            self.minute()
            status = self.rollout().status
            if not status.active or status.value == until:
                break
        return self.rollout()


def count_rows(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
