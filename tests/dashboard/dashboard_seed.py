"""A store with history (the timeline's seed) and a rollout in flight that has real looks:
simulated traffic (`rollout_helpers.Simulation`) over the last few minutes, judged by the real
controller once a minute."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, plan
from timeline_seed import Seeded, seed

from rampway.rollout import Controller, RolloutRecord
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
