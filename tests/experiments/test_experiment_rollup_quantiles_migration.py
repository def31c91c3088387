"""Revision experiments_rollup_0002 on SQLite and PostgreSQL: a database at
experiments_rollup_0001 with a running experiment, its requests and a roll-up without
histograms, upgraded, keeps that roll-up: its metrics but the quantile are still read from
it, the quantile from the event log (the histograms do not count its requests) — the upgrade
deletes nothing, which would have a gateway's sinks wait behind a backfill of the whole window
(and could deadlock with them). The downgrade drops the histograms and keeps the rest."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from test_experiment_rollup import ARMS, ROLLED, T0, traffic
from test_experiment_rollup_quantiles import p95_record

from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import repo
from rampway.experiments import rollup as r
from rampway.experiments.analysis import analyze
from rampway.experiments.tables import experiment_rollup_units, experiments
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
        segment = r.Segment(rec.id, rec.feature, T0, T0 + 5, None, True, "user",
                            tuple((a.name, a.release_id) for a in ARMS))
        units, _, _ = r._rows(segment, EVENTS, 0)  # the unit rows that revision's sinks made
        conn.execute(sa.insert(experiment_rollup_units),
                     [dict(zip([c.name for c in experiment_rollup_units.c], row, strict=True))
                      for row in units])
    yield db_url


def count(store: Store, table: str) -> int:
    with store.reading() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def test_upgrade_keeps_the_old_rollup_which_serves_all_but_the_quantile(old_db: str) -> None:
    with Store.open(old_db) as store:
        assert set(sa.inspect(store.engine).get_table_names()) >= NEW
        assert count(store, "experiment_rollup_units") > 100
        assert count(store, "experiment_rollup_segments") == 1
        rec = repo.get(store, 1)
        assert "latency_p95" in rec.secondary
        now = max(e.ts for e in EVENTS) + 1
        quantile = analyze(store, rec, now=now)
        assert (quantile.source, quantile.source_why) == (
            "events", "the roll-up's latency histograms do not hold its requests")
        rolled = analyze(store, replace(rec, **ROLLED), now=now)
        assert (rolled.source, rolled.source_why) == ("rollup", "")


def test_downgrade_drops_the_histograms_and_keeps_the_experiment(old_db: str) -> None:
    with Store.open(old_db) as store:
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "experiments_rollup_0001")
        names = set(sa.inspect(store.engine).get_table_names())
        assert not NEW & names and "experiment_rollup_units" in names
        with store.engine.connect() as conn:
            assert conn.scalar(sa.select(experiments.c.name)) == "tone"
