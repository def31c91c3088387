"""Reading pairs back: the driver's errors arrive as the store's, on every backend (on
PostgreSQL the rows come from psycopg's own stream, not through SQLAlchemy's result)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rampway.errors import StoreError
from rampway.shadow import load_pairs
from rampway.shadow.tables import shadows
from rampway.store import Store


def _shadow(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(shadows.insert().values(
            name="s", feature="bot", active_name=None, status="stopped", candidates=["bot@v3"],
            sample_bp=10_000, twin_bp=5_000, salt="shadow:s:1",
            definition={"feature": "bot", "keep_text": True}, ends_at=None, version=2,
            started_at=datetime.now(UTC), actor="t", reason="t", shed=0, over_budget=0,
            expired=0))


def test_a_shadow_without_pairs_reads_none(store: Store) -> None:
    _shadow(store)
    assert list(load_pairs(store, "s")) == []


def test_a_database_error_while_reading_pairs_is_a_store_error(store: Store) -> None:
    _shadow(store)
    with store.transaction() as conn:  # the query now names a column the table lacks
        conn.execute(sa.text("ALTER TABLE shadow_pairs DROP COLUMN output_text"))
    with pytest.raises(StoreError):
        list(load_pairs(store, "s"))
