"""A rollout that finishes by itself re-checks routability at its final step, on SQLite and
PostgreSQL: the controller's promotion is a channel move like `channel set` or a human's
`promote`, so a candidate whose provider left rampway.yaml since the start is not promoted —
the rollout pauses at its weight with the reason recorded, production untouched — and once the
config is fixed, a resume finishes it."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_helpers import SYSTEM_V2, make_project, support_spec, write_release  # noqa: E402
from rollout_helpers import FakeClock, Profile, Simulation, plan  # noqa: E402

from rampway.release import load_release  # noqa: E402
from rampway.rollout import Controller, Status  # noqa: E402
from rampway.store import Store  # noqa: E402

FEATURE = "support-bot"
STEPS = [{"weight": 50, "dwell": "3m"}, {"weight": 100}]
GUARD = [{"metric": "error_rate", "critical": True, "min_sample": 20,
          "margin": {"absolute": 0.05}}]


def test_the_final_step_pauses_instead_of_promoting_an_unroutable_candidate(
    tmp_path: Path, db_url: str
) -> None:
    proj = make_project(tmp_path, db_url)
    config_path = proj.project.config_path
    config = yaml.safe_load(config_path.read_text())
    config["providers"]["alt"] = dict(config["providers"]["sim"])  # a second, sim-backed one
    config_path.write_text(yaml.safe_dump(config))
    spec = {**support_spec("sim-small"), "provider": "alt"}
    candidate = load_release(write_release(tmp_path / "alt", FEATURE, spec, {
        "prompts/system.md": SYSTEM_V2 + " Be terse."}), feature=FEATURE)
    with Store.open(db_url) as store:
        store.publish(FEATURE, candidate.digest, candidate.id, candidate.canonical, actor="t",
                      reason="test")
        clock = FakeClock()
        controller = Controller(store, clock=clock, project_root=proj.project.root)
        controller.start(FEATURE, candidate.id, plan=plan(steps=STEPS, guardrails=GUARD),
                         actor="ana", reason="try alt", skip_gate=True)
        sim = Simulation(store, controller, clock,
                         {"baseline": proj.v1.id, "candidate": candidate.id},
                         {"baseline": Profile(), "candidate": Profile()}, per_minute=600)
        sim.run(1)  # the first look: running at 50%, the dwell not over yet
        assert sim.rollout().status is Status.RUNNING
        del config["providers"]["alt"]  # the candidate's provider leaves rampway.yaml
        config_path.write_text(yaml.safe_dump(config))
        paused = sim.run(10, until="paused")
        assert paused.status is Status.PAUSED and paused.weight_bp == 5000, sim.history
        assert "not promoted" in paused.reason and "provider 'alt'" in paused.reason
        production = store.get_channel(FEATURE, "production")
        assert production is not None and production.release_id == proj.v1.id
        audit = store.list_audit(object_type="rollout", limit=100)[0]
        assert (audit.action, audit.actor) == ("rollout.pause", "rampway-controller")
        assert "provider 'alt'" in audit.reason
        sim.run(3)  # paused stays paused: no look promotes it behind the human's back
        assert sim.rollout().status is Status.PAUSED
        assert store.get_channel(FEATURE, "production").release_id == proj.v1.id  # type: ignore[union-attr]

        config["providers"]["alt"] = dict(config["providers"]["sim"])  # fixed
        config_path.write_text(yaml.safe_dump(config))
        controller.command(FEATURE, "resume", actor="ana", reason="alt is back")
        done = sim.run(10)
        assert done.status is Status.COMPLETED, sim.history
        assert store.get_channel(FEATURE, "production").release_id == candidate.id  # type: ignore[union-attr]
