"""A store with one of everything a timeline shows, written through the real code paths:
releases, a gate pass, flag changes, a rollout started / paused / rolled back, an experiment
started and stopped, channel moves and a channel rollback."""

from __future__ import annotations

from dataclasses import dataclass

from experiment_helpers import definition
from rollout_helpers import FEATURE, FakeClock, gated_pair, plan

from rampway.experiments import repo as experiments
from rampway.flags.store import FlagStore
from rampway.rollout import Controller
from rampway.store import Store


@dataclass(frozen=True)
class Seeded:
    baseline: str
    candidate: str
    rollout_id: int
    experiment_ref: str


def seed(store: Store, clock: FakeClock | None = None) -> Seeded:
    baseline, candidate = gated_pair(store)
    flags = FlagStore(store)
    flags.put("flag", f"{FEATURE}.enabled", {"type": "bool", "default": True},
              actor="ana", reason="kill switch")
    flags.put("flag", f"{FEATURE}.enabled", {"type": "bool", "default": False},
              actor="bo", reason="incident 42")
    flags.put("flag", "other-bot.enabled", {"type": "bool", "default": True},
              actor="ana", reason="not ours")
    controller = Controller(store, clock=clock or FakeClock())
    started = controller.start(FEATURE, candidate, plan=plan(), actor="ana", reason="ship v2")
    controller.command(FEATURE, "pause", actor="bo", reason="looks odd")
    controller.command(FEATURE, "rollback", actor="bo", reason="refunds regressed")
    record = experiments.start(store, "tone", definition(), [baseline, candidate],
                               actor="ana", reason="try the tone", now=(clock or FakeClock())())
    experiments.stop(store, record, actor="ana", reason="no lift: keep control",
                     now=(clock or FakeClock())() + 3600)
    store.set_channel(FEATURE, "production", candidate, actor="cy", reason="ship by hand")
    store.rollback(FEATURE, "production", actor="cy", reason="pager")
    return Seeded(baseline, candidate, started.id, f"tone#{record.id}")
