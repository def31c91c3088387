"""Every look of the judge is kept (rollout_looks), oldest first, with the step and weight it
judged and its evidence — the looks a transition came from too (SQLite and PostgreSQL)."""

from __future__ import annotations

from rollout_helpers import FakeClock, Profile, Simulation, gated_pair, plan

from rampway.rollout import Controller, repo
from rampway.store import Store


def test_each_look_is_kept_with_its_evidence(store: Store) -> None:
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    controller = Controller(store, clock=clock)
    started = controller.start("support-bot", candidate, actor="ana", reason="try", plan=plan(
        steps=[{"weight": 20, "dwell": "3m"}, {"weight": 100}],
        guardrails=[{"metric": "error_rate", "margin": {"absolute": 0.05}, "min_sample": 30}]))
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile()}, per_minute=300,
                     units=2000)
    done = sim.run(6)
    looks = repo.looks(store, started.id)
    assert done.status.value == "completed"
    assert len(looks) >= 3 and [lk.at for lk in looks] == sorted(lk.at for lk in looks)
    assert all(lk.step == 0 and lk.weight_bp == 2000 for lk in looks)
    assert [lk.action for lk in looks][-1] == "proceed"  # the look that advanced it
    assert looks[-1].evidence["guardrails"][0]["metric"] == "error_rate"
    assert looks[-1].evidence == repo.get(store, started.id).evaluation
    assert repo.looks(store, started.id, limit=2) == looks[-2:]
    assert repo.looks(store, started.id + 1) == []
