"""Event retention on SQLite and PostgreSQL: old events go in batches, analysis windows stay."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.errors import ConfigError, StoreError
from rampway.events import FeedbackEvent, RequestEvent
from rampway.events.retention import (
    DAY,
    DEFAULT_RETENTION_S,
    Protection,
    RetentionJob,
    effective_cutoff,
    parse_retention,
    prune,
)
from rampway.events.sink import SqlEventSink
from rampway.events.tables import event_shapes, event_values, feedback_events, request_events
from rampway.gateway.rollouts import RolloutLoop
from rampway.gateway.settings import GatewaySettings
from rampway.rollout import Controller
from rampway.rollout import repo as rollout_repo
from rampway.rollout.plan import Plan, Step
from rampway.store import Store

NOW = 1_790_000_000.0  # 2026-09-21
FEATURE = "support-bot"


def fill(store: Store, ages_days: list[float], *, feedback: bool = True) -> None:
    """One request event (and one feedback event) per age, `age` days before NOW."""
    requests = [RequestEvent(id=f"req_{i}", ts=NOW - age * DAY, feature=FEATURE)
                for i, age in enumerate(ages_days)]
    scores = [FeedbackEvent(id=f"fb_{i}", ts=NOW - age * DAY, name="thumbs_up", value=1.0,
                            request_id=f"req_{i}") for i, age in enumerate(ages_days)]
    SqlEventSink(store).write(requests, scores if feedback else [])


def remaining(store: Store, table: sa.Table) -> set[str]:
    with store.engine.connect() as conn:
        return {str(r.id) for r in conn.execute(sa.select(table.c.id))}


def test_old_events_are_deleted_and_young_ones_kept(store: Store) -> None:
    fill(store, [100, 95, 31, 29, 1, 0])
    result = prune(store, NOW - 30 * DAY)
    assert (result.requests, result.feedback) == (3, 3)
    assert result.cutoff == NOW - 30 * DAY and result.held_by is None and result.complete
    assert remaining(store, request_events) == {"req_3", "req_4", "req_5"}
    assert remaining(store, feedback_events) == {"fb_3", "fb_4", "fb_5"}
    assert prune(store, NOW - 30 * DAY).requests == 0  # nothing left to delete


def test_batches_smaller_than_the_rows_delete_exactly_the_old_ones(store: Store) -> None:
    ages = [float(i) for i in range(50)]  # 0..49 days old: 19 older than 30.5 days
    fill(store, ages)
    result = prune(store, NOW - 30.5 * DAY, batch=7)
    assert (result.requests, result.feedback) == (19, 19)
    expected = {f"req_{i}" for i in range(31)}
    assert remaining(store, request_events) == expected
    assert remaining(store, feedback_events) == {f"fb_{i}" for i in range(31)}


def test_a_batch_exactly_the_row_count_finishes(store: Store) -> None:
    fill(store, [40.0] * 14, feedback=False)
    assert prune(store, NOW - 30 * DAY, batch=7).requests == 14
    assert remaining(store, request_events) == set()


def test_dry_run_counts_and_deletes_nothing(store: Store) -> None:
    fill(store, [100, 50, 10])
    result = prune(store, NOW - 30 * DAY, dry_run=True)
    assert (result.requests, result.feedback, result.dry_run) == (2, 2, True)
    assert len(remaining(store, request_events)) == 3
    assert len(remaining(store, feedback_events)) == 3


def start_rollout(store: Store, created: float) -> rollout_repo.RolloutRecord:
    ids = []
    for text in ("v1", "v2"):
        digest = hashlib.sha256(text.encode()).hexdigest()
        ids.append(f"{FEATURE}@{digest[:8]}")
        store.publish(FEATURE, digest, ids[-1], text, actor="test", reason="test")
    plan = Plan(steps=(Step(weight=10, dwell=3600), Step(weight=100)))
    return rollout_repo.create(
        store, feature=FEATURE, candidate=ids[1], baseline=ids[0], baseline_channel="production",
        plan=plan, actor="test", now=datetime.fromtimestamp(created, UTC), reason="test",
    )


def test_an_active_rollouts_window_is_never_pruned(store: Store) -> None:
    fill(store, [100, 60, 45, 40, 35, 1])
    rollout = start_rollout(store, NOW - 50 * DAY)
    result = prune(store, NOW - 30 * DAY)
    assert result.held_by == f"rollout {rollout.ref}"
    assert result.cutoff == NOW - 50 * DAY
    assert (result.requests, result.feedback) == (2, 2)
    assert remaining(store, request_events) == {"req_2", "req_3", "req_4", "req_5"}


def test_a_finished_rollout_protects_nothing(store: Store) -> None:
    fill(store, [100, 60, 1])
    rollout = start_rollout(store, NOW - 50 * DAY)
    with store.transaction() as conn:
        conn.execute(sa.text("UPDATE rollouts SET status = 'completed', active_feature = NULL "
                             "WHERE id = :id"), {"id": rollout.id})
    result = prune(store, NOW - 30 * DAY)
    assert result.held_by is None and result.requests == 2


def test_effective_cutoff_is_the_earliest_protected_start() -> None:
    assert effective_cutoff(100.0, []) == (100.0, None)
    assert effective_cutoff(100.0, [Protection(150.0, "young")]) == (100.0, None)
    held = [Protection(80.0, "b"), Protection(60.0, "a"), Protection(120.0, "c")]
    assert effective_cutoff(100.0, held) == (60.0, "a")


def test_retention_setting_keeps_everything_unless_set_and_null_keeps_forever() -> None:
    assert GatewaySettings.from_config({}).events.retention is DEFAULT_RETENTION_S is None
    assert GatewaySettings.from_config({"events": {"retention": "30d"}}).events.retention == (
        30 * DAY)
    for forever in (None, "forever", "FOREVER"):
        settings = GatewaySettings.from_config({"events": {"retention": forever}})
        assert settings.events.retention is None
    assert parse_retention("12h") == 12 * 3600


@pytest.mark.parametrize("bad", ["soon", "30", 30, -1, True, "0d", [30]])
def test_a_bad_retention_setting_is_refused_naming_the_key(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^rampway\.yaml: gateway\.events\.retention: "):
        GatewaySettings.from_config({"events": {"retention": bad}})


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_job_prunes_at_most_once_an_hour(store: Store) -> None:
    ticks = Ticks()
    job = RetentionJob(store, 30 * DAY, clock=lambda: NOW, monotonic=ticks)
    fill(store, [100, 1])
    first = job.maybe_run()
    assert first is not None and first.requests == 1
    fill(store, [200], feedback=False)  # req_0 again, old: the next run deletes it
    ticks.now += 3599
    assert job.maybe_run() is None
    assert "req_0" in remaining(store, request_events)
    ticks.now += 1
    again = job.maybe_run()
    assert again is not None and again.requests == 1 and job.runs == 2


def test_a_run_over_its_budget_continues_at_the_next_look(store: Store) -> None:
    ticks = Ticks()

    def slow() -> float:  # every batch takes 10 s of the job's 15 s budget
        ticks.now += 10
        return ticks.now

    job = RetentionJob(store, 30 * DAY, clock=lambda: NOW, monotonic=slow, budget=15, batch=2)
    fill(store, [40.0] * 9, feedback=False)
    first = job.maybe_run()
    assert first is not None and not first.complete and 0 < first.requests < 9
    while (result := job.maybe_run()) is not None and not result.complete:
        pass
    assert remaining(store, request_events) == set()


def test_the_job_deletes_the_values_and_shapes_only_deleted_events_used(store: Store) -> None:
    old = NOW - 100 * DAY  # written then, by a gateway whose clock said so
    SqlEventSink(store, clock=lambda: old).write(
        [RequestEvent(id="old", ts=old, feature=FEATURE, model="m-v1",
                      attributes={"deploy": "v1"})], [])
    fill(store, [1], feedback=False)  # req_0: a value-less event of yesterday, kept
    result = RetentionJob(store, 30 * DAY, clock=lambda: NOW).maybe_run()
    assert result is not None
    assert (result.requests, result.values, result.shapes) == (1, 1, 1)
    with store.reading() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(event_values)) == 0
        assert set(conn.scalars(sa.select(event_shapes.c.model))) == {None}  # req_0's


# -- `rampway events prune` ---------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An init-ed project on `db_url`, as the current directory."""
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    assert run("init", str(root)).exit_code == 0
    monkeypatch.chdir(root)
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def bad(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


def fill_ago(db_url: str, ages_days: list[float]) -> None:
    """Events `age` days before the real now (the CLI prunes relative to the clock)."""
    now = time.time()
    with Store.open(db_url) as store:
        SqlEventSink(store).write(
            [RequestEvent(id=f"req_{i}", ts=now - a * DAY, feature=FEATURE)
             for i, a in enumerate(ages_days)],
            [FeedbackEvent(id=f"fb_{i}", ts=now - a * DAY, name="thumbs_up", value=1.0)
             for i, a in enumerate(ages_days)],
        )


def counts(db_url: str) -> tuple[int, int]:
    with Store.open(db_url) as store:
        return len(remaining(store, request_events)), len(remaining(store, feedback_events))


def test_cli_prune_uses_the_configured_retention_by_default(project: Path, db_url: str) -> None:
    fill_ago(db_url, [200, 100, 50, 1])  # `rampway init` writes 90 days: two go
    dry = run("events", "prune", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert (doc["requests"], doc["feedback"], doc["dry_run"]) == (2, 2, True)
    assert doc["retention_s"] == 90 * DAY and counts(db_url) == (4, 4)
    done = run("events", "prune")
    assert done.exit_code == 0, done.output
    assert "deleted 2 request and 2 feedback events older than" in done.stdout
    assert counts(db_url) == (2, 2)
    config = project / "rampway.yaml"
    assert "retention: 90d" in config.read_text()
    config.write_text(config.read_text().replace("retention: 90d", "retention: 30d"))
    doc = json.loads(run("events", "prune", "--json").stdout)
    assert (doc["requests"], doc["feedback"], doc["retention_s"]) == (1, 1, 30 * DAY)
    assert counts(db_url) == (1, 1)


def test_cli_prune_reports_the_values_and_shapes_it_deleted(project: Path, db_url: str) -> None:
    then = time.time() - 200 * DAY
    with Store.open(db_url) as store:  # written 200 days ago, by the gateway's clock then
        SqlEventSink(store, clock=lambda: then).write(
            [RequestEvent(id="old", ts=then, feature=FEATURE, model="m-old",
                          attributes={"deploy": "v1"}, flags={"f.x": True})], [])
    doc = json.loads(run("events", "prune", "--dry-run", "--json").stdout)
    assert (doc["requests"], doc["values"], doc["shapes"]) == (1, 2, 1)
    done = run("events", "prune")
    assert done.exit_code == 0, done.output
    assert "deleted 2 attribute/flag values and 1 shapes no remaining event uses" in done.stdout
    doc = json.loads(run("events", "prune", "--json").stdout)
    assert (doc["requests"], doc["values"], doc["shapes"]) == (0, 0, 0)


def test_cli_prune_older_than_overrides_the_setting(project: Path, db_url: str) -> None:
    fill_ago(db_url, [20, 10, 5, 1])
    result = run("events", "prune", "--older-than", "7d", "--batch", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["requests"], doc["feedback"], doc["complete"]) == (2, 2, True)
    assert counts(db_url) == (2, 2)


def test_cli_prune_with_retention_forever_deletes_nothing(project: Path, db_url: str) -> None:
    fill_ago(db_url, [2000])
    config = project / "rampway.yaml"
    config.write_text(config.read_text().replace("retention: 90d", "retention: forever"))
    result = run("events", "prune")
    assert result.exit_code == 0 and "retention is off" in result.stdout
    assert json.loads(run("events", "prune", "--json").stdout)["retention"] is None
    assert counts(db_url) == (1, 1)


def test_cli_prune_refuses_bad_input_on_one_line(project: Path, db_url: str) -> None:
    fill_ago(db_url, [2000])
    bad(run("events", "prune", "--older-than", "soon"), "--older-than: invalid duration")
    bad(run("events", "prune", "--older-than", "10m"), "shorter than 1h")
    bad(run("events", "prune", "--older-than", "forever"), "--older-than")
    bad(run("events", "prune", "--batch", "0"), "--batch")
    config = project / "rampway.yaml"
    config.write_text(config.read_text().replace("retention: 90d", "retention: 5 days"))
    bad(run("events", "prune", "--dry-run"), "rampway.yaml: gateway.events.retention:")
    assert counts(db_url) == (1, 1)


# -- applied by the fleet's controller ----------------------------------------------------------


def test_only_the_lease_holder_prunes_and_a_failure_spares_the_look(
    db_url: str, store: Store,
) -> None:
    fill(store, [100, 1])
    with Store.open(db_url) as other:
        holder = RolloutLoop(Controller(store, clock=lambda: NOW,
                                        retention=RetentionJob(store, 30 * DAY,
                                                               clock=lambda: NOW)))
        job = RetentionJob(other, 30 * DAY, clock=lambda: NOW)
        standby = RolloutLoop(Controller(other, clock=lambda: NOW, retention=job))
        try:
            holder.look()
            standby.look()
            assert holder.looks == 1 and standby.standing_by == 1
            assert job.runs == 0  # the process that does not look does not prune either
            assert remaining(store, request_events) == {"req_1"}
            assert holder.controller.retention is not None
            assert holder.controller.retention.runs == 1
        finally:
            holder.stop()
            standby.stop()


class BrokenJob(RetentionJob):
    def maybe_run(self) -> None:
        raise StoreError("database went away")


def test_a_failing_retention_is_logged_and_the_look_still_counts(
    store: Store, caplog: pytest.LogCaptureFixture,
) -> None:
    loop = RolloutLoop(Controller(store, retention=BrokenJob(store, 30 * DAY)))
    try:
        assert loop.controller.look() == []
        loop.look()
    finally:
        loop.stop()
    assert loop.looks == 1 and loop.standing_by == 0
    assert "event retention failed" in caplog.text and "database went away" in caplog.text
