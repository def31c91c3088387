"""Revision experiments_rollup_0001 on SQLite and PostgreSQL: a database with a running
experiment and its requests, upgraded, gets the roll-up tables empty — its first analysis
opens the experiment's segment and reads the event log, a later one (once the segment's first
seconds are over) backfills it and reads the roll-up with the same numbers — and the downgrade
drops the tables, keeping the experiment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from test_experiment_rollup import ARMS, T0, assert_same_report, record, traffic

from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import repo
from rampway.experiments import rollup as r
from rampway.experiments.analysis import analyze
from rampway.experiments.tables import experiments
from rampway.store import Store, alembic_config

sys.path.insert(0, str(Path(__file__).parents[1] / "events"))
from migration_helpers import engine_at  # noqa: E402

TABLES = {"experiment_rollup_segments", "experiment_rollup_units"}
EVENTS = traffic(0, 2000, seed=11)


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at events_0012 with a running experiment (#1) and its requests."""
    rec = record()
    with engine_at(db_url, "events_0012") as engine, engine.begin() as conn:
        conn.execute(sa.insert(experiments).values(
            id=rec.id, name=rec.name, feature=rec.feature, active_feature=rec.feature,
            status="running", arms=[{"name": a.name, "release_id": a.release_id,
                                     "weight_bp": a.weight_bp} for a in ARMS],
            coverage_bp=10_000, salt="s", version=1,
            definition={"feature": rec.feature, "primary": rec.primary,
                        "secondary": list(rec.secondary), "min_runtime": 86_400,
                        "guardrails": [{"metric": g.metric, "bad": g.bad}
                                       for g in rec.guardrails]},
            started_at=datetime.fromtimestamp(T0, UTC), actor="ana", reason="old"))
        conn.execute(request_events.insert(), with_shape_ids(conn, [e.row() for e in EVENTS]))
    yield db_url


def test_upgrade_adds_empty_tables_and_the_first_analyses_backfill_them(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert set(sa.inspect(store.engine).get_table_names()) >= TABLES
        rec = repo.get(store, 1)
        now = max(e.ts for e in EVENTS) + 1
        first = analyze(store, rec, now=now)
        assert (first.source, first.source_why) == (
            "events", "the roll-up's first seconds are not merged yet")
        with store.reading() as conn:
            segment = r.get(conn, rec.id)
        assert segment is not None
        r.prepare(store, rec, wall=segment.cutoff + r.MERGE_AFTER_SECONDS)  # the backfill
        assert_same_report(analyze(store, rec, now=now), first)


def test_downgrade_drops_the_tables_and_keeps_the_experiment(old_db: str) -> None:
    with Store.open(old_db) as store:
        rec = repo.get(store, 1)
        analyze(store, rec, now=T0 + 10)  # opens the segment: a row to drop
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "events_0012")
        assert not TABLES & set(sa.inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            assert conn.scalar(sa.select(experiments.c.name)) == "tone"
