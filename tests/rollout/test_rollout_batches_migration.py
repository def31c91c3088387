"""`rollout_0006` (the roll-up's batch ledger, `rollup_batches`) on both databases: upgraded
from a database holding a step's roll-up, used, and downgraded with the roll-up kept."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command

sys.path.insert(0, str(Path(__file__).parents[1] / "events"))

from migration_helpers import engine_at  # noqa: E402

from rampway.rollout import batches  # noqa: E402
from rampway.rollout.segments import Segment  # noqa: E402
from rampway.rollout.tables import rollup_batches  # noqa: E402
from rampway.store import Store, alembic_config  # noqa: E402


def test_the_ledger_is_added_and_dropped_around_a_rollup(db_url: str) -> None:
    with engine_at(db_url, "events_prune_0001") as engine, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO rollup_segments (feature, since, merged, unit) "
                             "VALUES ('f', 1000.0, false, 'user')"))
    with Store.open(db_url) as store:
        with store.transaction() as conn:
            assert batches.reserve(conn, "t1", {"f": [Segment(1000.0, False, "user")]}, 5.0)
            assert batches.pending(conn, "f", 1000.0)
            assert batches.settle(conn, "t1")
            assert not batches.settle(conn, "t1")  # once
            assert not batches.reserve(conn, "t1", {"f": [Segment(1000.0, False, "user")]}, 6.0)
            assert not batches.pending(conn, "f", 1000.0)
            assert batches.prune(conn, 5.0 + batches.KEEP_APPLIED_S + 1) == 1
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "events_prune_0001")
        names = sa.inspect(store.engine).get_table_names()
        assert rollup_batches.name not in names
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT feature, since FROM rollup_segments")).all() == [
                ("f", 1000.0)]
        with store.transaction() as conn:
            command.upgrade(alembic_config(conn), "head")
        with store.reading() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(rollup_batches)) == 0
