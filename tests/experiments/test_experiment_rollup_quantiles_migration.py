"""Revision experiments_rollup_0002 on SQLite and PostgreSQL: a database at
experiments_rollup_0001 with a running experiment, its requests and a roll-up without
histograms, upgraded, loses that roll-up (it cannot serve a quantile) and the next analyses
backfill it, histograms included, so latency_p95 is read from it; the downgrade drops the
histograms and keeps the rest."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from test_experiment_rollup import ARMS, T0, traffic
from test_experiment_rollup_quantiles import p95_record

from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import repo
from rampway.experiments import rollup as r
from rampway.experiments.analysis import analyze
from rampway.experiments.tables import experiments
from rampway.store import Store, alembic_config

sys.path.insert(0, str(Path(__file__).parents[1] / "events"))
from migration_helpers import engine_at  # noqa: E402

NEW = {"experiment_rollup_latency", "experiment_rollup_unit_latency"}
EVENTS = traffic(0, 2000, seed=31)


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database at experiments_rollup_0001: experiment #1 running, its requests, and its
    roll-up (segment merged, unit rows) as that revision's sinks kept it."""
    rec = p95_record()
    with engine_at(db_url, "experiments_rollup_0001") as engine, engine.begin() as conn:
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
        conn.exec_driver_sql(
            "INSERT INTO experiment_rollup_segments (experiment_id, feature, since, cutoff, "
            "merged, unit, arms) VALUES (1, 'support-bot', %s, %s, true, 'user', '%s')"
            % (T0, T0 + 5, '[["control", "support-bot@c"], ["friendly", "support-bot@t"]]'))
        conn.exec_driver_sql(
            "INSERT INTO experiment_rollup_units VALUES "
            "(1, 'u1', 0, 0, %s, %s, 3, 0, 0, 3, 300.0, 0.01, 30)" % (T0 + 10, T0 + 20))
    yield db_url


def count(store: Store, table: str) -> int:
    with store.reading() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def test_upgrade_drops_the_old_rollup_and_the_next_analyses_rebuild_it(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert set(sa.inspect(store.engine).get_table_names()) >= NEW
        assert count(store, "experiment_rollup_units") == 0
        assert count(store, "experiment_rollup_segments") == 0
        rec = repo.get(store, 1)
        assert "latency_p95" in rec.secondary
        now = max(e.ts for e in EVENTS) + 1
        first = analyze(store, rec, now=now)  # opens the segment again
        assert first.source == "events"
        with store.reading() as conn:
            segment = r.get(conn, rec.id)
        assert segment is not None
        r.prepare(store, rec, wall=segment.cutoff + r.MERGE_AFTER_SECONDS)  # the backfill
        assert count(store, "experiment_rollup_latency") > 0
        second = analyze(store, rec, now=now)
        assert second.source == "rollup", second.source_why
        got, want = ([x for x in rep.results if x.metric == "latency_p95"][0]
                     for rep in (second, first))
        assert got.control_mean == pytest.approx(want.control_mean, rel=0.011)


def test_downgrade_drops_the_histograms_and_keeps_the_experiment(old_db: str) -> None:
    with Store.open(old_db) as store:
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "experiments_rollup_0001")
        names = set(sa.inspect(store.engine).get_table_names())
        assert not NEW & names and "experiment_rollup_units" in names
        with store.engine.connect() as conn:
            assert conn.scalar(sa.select(experiments.c.name)) == "tone"
