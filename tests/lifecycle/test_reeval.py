"""Re-evaluation: drift, a catalog change or a deprecation re-runs a production release's gate."""

from __future__ import annotations

import datetime as dt
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
from rampway.config import Project
from rampway.gate.tables import gate_decisions
from rampway.gateway import Runtime
from rampway.lifecycle.drift import Drift
from rampway.lifecycle.reeval import catalog_changes, catalog_snapshot, triggers_for
from rampway.providers.catalog import Catalog
from rampway.providers.sim._config import apply_patch, load_sim_config
from rampway.providers.sim._server import SimServer
from rampway.release import load_release
from rampway.store import Store

CHAT = {"model": "bot", "messages": [{"role": "user", "content": "What is 2 + 2?"}],
        "user": "u-1"}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(apply_patch(load_sim_config(), sim_config())) as server:
        yield server


def configure(proj: Project, **sections: Any) -> None:
    path = proj.root / "rampway.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(sections)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def cli(proj: Project, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--project", str(proj.root)])


def reevals(store: Store, release_id: str) -> list[dict[str, Any]]:
    entries = store.list_audit(object_type="release", object_id=release_id)
    return [e.after for e in reversed(entries) if e.action == "model.reeval"]


def test_catalog_changes_and_triggers_are_pure_and_name_what_moved(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p", "sqlite://", "http://127.0.0.1:9")
    release = load_release(proj.root / "releases" / "bot", feature="bot")
    kinds = {"sim": "sim"}
    before = catalog_snapshot(release, Catalog.bundled(), kinds)
    cheaper = Catalog.load([{"provider": "sim", "model": "sim-small", "input_per_mtok": 0.1}])
    after = catalog_snapshot(release, cheaper, kinds)
    assert before["digest"] != after["digest"]
    changed = catalog_changes(before["entries"], after["entries"])
    assert changed == ["sim/sim-small input_per_mtok: 0.15 → 0.1"]
    drift = Drift(release.id, "bot", "sim", "sim-large", "model", "a", "b", 0.0, 1, 2)
    found = triggers_for(release, cheaper, kinds, [drift], changed, today=dt.date(2027, 1, 10),
                         horizon=dt.date(2027, 4, 10))
    assert [(t.kind, t.detail) for t in found] == [
        ("drift", "sim/sim-large answered as a → b"),
        ("catalog", "catalog: sim/sim-small input_per_mtok: 0.15 → 0.1"),
        ("deprecation", "sim/sim-large deprecating 2027-02-01")]
    assert triggers_for(release, cheaper, kinds, [], [], today=dt.date(2026, 1, 1),
                        horizon=dt.date(2026, 3, 1)) == []


def test_alias_flip_under_a_running_gateway_triggers_a_recorded_reeval_on_the_timeline(
    tmp_path: Path, db_url: str, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", db_url, sim.base_url)
    release = publish_production(proj)
    before = cli(proj, "gate", "bot", "--candidate", release.id)  # caches both sides' answers
    assert before.exit_code in (0, 1, 3), before.output
    runtime = Runtime.from_project(proj)
    with serve(runtime) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
        time.sleep(0.01)
        sim.patch_config({"models": {"sim-large": {"serves_as": "sim-large-2027-01"}}})
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert runtime.writer.flush(10)
    with Receiver() as receiver:
        configure(proj, lifecycle={"reeval": ["drift"]},
                  rollouts={"webhooks": [{"url": receiver.url}]})
        watched = cli(proj, "models", "watch", "--once", "--since", "1h")
        again = cli(proj, "models", "watch", "--once", "--since", "1h")
    assert watched.exit_code == 0, watched.output
    lines = watched.stdout.splitlines()
    assert lines[0].startswith("drift: ") and len(lines) == 2
    assert lines[1].startswith(f"re-eval: {release.id}: re-evaluated against itself on "
                               "sim/sim-large answered as sim-large → sim-large-2027-01: gate ")
    assert again.exit_code == 0 and again.stdout == ""  # each trigger is handled once
    assert [b["type"] for b in receiver.bodies] == ["model_drift", "model_reeval"]
    with Store.open(db_url) as store:
        [record] = reevals(store, release.id)
        with store.reading() as conn:
            _first, gate = conn.execute(sa.select(gate_decisions).order_by(
                gate_decisions.c.id)).all()
    assert (gate.candidate, gate.baseline) == (release.id, release.id)
    # the drifted side is asked afresh (not the answers `rampway gate` cached for it before)
    sequential = gate.summary["sequential"]
    assert sequential["new_calls"] >= sequential["looks"][-1]["evaluations"] // 2 > 0
    assert (record["gate_id"], record["verdict"], record["self_check"]) == (
        gate.id, gate.verdict, True)
    assert receiver.bodies[1]["gate_id"] == gate.id
    shown = json.loads(cli(proj, "timeline", "bot", "--json").stdout)["entries"]
    kinds = [e["kind"] for e in shown]
    assert kinds == ["release.publish", "channel.set", f"gate.{_first.verdict}", "model.drift",
                     "model.catalog", f"gate.{gate.verdict}", "model.reeval"]  # oldest first


def test_deprecation_gates_the_successor_and_a_catalog_change_regates_production(
    tmp_path: Path, db_url: str, sim: SimServer
) -> None:
    proj = make_project(tmp_path / "p", db_url, sim.base_url)
    release = publish_production(proj)
    configure(proj, lifecycle={"reeval": ["catalog", "deprecation"], "within": "90d"})
    first = cli(proj, "models", "watch", "--once", "--as-of", "2027-01-10")
    assert first.exit_code == 0, first.output
    configure(proj, catalog=[{"provider": "sim", "model": "sim-small", "input_per_mtok": 0.3}])
    second = cli(proj, "models", "watch", "--once", "--as-of", "2027-01-10")
    third = cli(proj, "models", "watch", "--once", "--as-of", "2027-01-10")
    assert second.exit_code == 0 and third.stdout == ""
    with Store.open(db_url) as store:
        upgrade, regate = reevals(store, release.id)
        draft = store.get_release("bot", upgrade["candidate"])
    assert [t["kind"] for t in upgrade["triggers"]] == ["deprecation"]
    assert upgrade["self_check"] is False and upgrade["verdict"] is not None
    assert '"model":"sim-large-2"' in draft.canonical.replace(" ", "")
    assert [t["detail"] for t in regate["triggers"]] == [
        "catalog: sim/sim-small input_per_mtok: 0.15 → 0.3"]
    assert regate["self_check"] is True and regate["gate_id"] is not None


def test_a_reeval_that_cannot_run_is_recorded_as_blocked(tmp_path: Path, db_url: str) -> None:
    proj = make_project(tmp_path / "p", db_url, "http://127.0.0.1:9", suite=False,
                        catalog=[{"provider": "sim", "model": "sim-small",
                                  "deprecation_date": "2027-02-01"}],
                        release={"provider": "sim", "model": "sim-small",
                                 "messages": {"system": "prompts/system.md"}})
    release = publish_production(proj)
    result = cli(proj, "models", "watch", "--once", "--reeval", "--as-of", "2027-01-10")
    assert result.exit_code == 0, result.output
    with Store.open(db_url) as store:
        [record] = reevals(store, release.id)
    assert record["verdict"] is None and "no successor" in record["blocked"]


@pytest.mark.parametrize("lifecycle", [{"reeval": ["sometimes"]}, {"within": "soon"}])
def test_a_bad_lifecycle_section_is_one_line_exit_2(tmp_path: Path,
                                                    lifecycle: dict[str, Any]) -> None:
    proj = make_project(tmp_path / "p", f"sqlite:///{tmp_path / 'db.sqlite'}",
                        "http://127.0.0.1:9")
    configure(proj, lifecycle=lifecycle)
    result = cli(proj, "models", "watch", "--once")
    assert result.exit_code == 2, result.output
    assert "lifecycle" in result.stderr and len(result.stderr.strip().splitlines()) == 1
