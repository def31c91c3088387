"""Revision events_0002 (request_events.flags) on a database that already holds event rows:
upgrading from the previous head keeps every row readable (flags NULL), new rows carry flags,
and a downgrade keeps the rows too — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from migration_helpers import engine_at

from rampway.events import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import request_event_rows
from rampway.flags import Evaluation, Reason
from rampway.store import Store, alembic_config, current_revisions, head_revisions

OLD_ROW = {
    "ts": 1000.0, "feature": "support-bot", "release_id": "support-bot@abcd1234",
    "arm": "production", "unit_hash": "u" * 32, "attributes": {"plan": "pro"}, "source": "gateway",
    "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
    "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
    "latency_ms": 12.5, "input_tokens": 10, "output_tokens": 20, "cached_tokens": 0,
    "cost_usd": 0.001, "refusal": False, "output_chars": 80, "prompt_text": "hi",
}


def previous_head() -> str:
    down = ScriptDirectory.from_config(alembic_config()).get_revision("events_0002").down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture
def old_db(db_url: str) -> Iterator[str]:
    """A database migrated only up to the revision before events_0002, with 3 event rows."""
    with engine_at(db_url, previous_head()) as engine:
        old_table = sa.Table("request_events", sa.MetaData(), autoload_with=engine)
        assert "flags" not in old_table.c
        with engine.begin() as conn:
            conn.execute(sa.insert(old_table), [{**OLD_ROW, "id": f"old_{i}", "ts": 1000.0 + i}
                                                for i in range(3)])
    yield db_url


def test_upgrade_from_the_previous_head_keeps_existing_event_rows_readable(old_db: str) -> None:
    with Store.open(old_db) as store:  # opening migrates to head
        assert current_revisions(store.engine) == head_revisions()
        hit = Evaluation("sim-small", None, Reason.TARGETING_MATCH, None, 0)
        SqlEventSink(store).write(
            [RequestEvent(id="new_1", ts=2000.0, feature="support-bot",
                          flags={"support-bot.model": hit})], [])
        with store.engine.connect() as conn:
            got = {r.id: r for r in conn.execute(sa.select(request_event_rows))}
    assert sorted(got) == ["new_1", "old_0", "old_1", "old_2"]
    old = got["old_1"]
    assert old.flags is None
    assert (old.ts, old.model, old.attributes, old.latency_ms, old.prompt_text) == (
        1001.0, "sim-large", {"plan": "pro"}, 12.5, "hi")
    assert got["new_1"].flags == {"support-bot.model": {"value": "sim-small",
                                                        "reason": "TARGETING_MATCH", "rule": 0}}


def test_downgrade_to_the_previous_head_keeps_the_rows(old_db: str) -> None:
    with Store.open(old_db) as store:
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), previous_head())
        table = sa.Table("request_events", sa.MetaData(), autoload_with=store.engine)
        assert "flags" not in table.c
        with store.engine.connect() as conn:
            ids = sorted(conn.scalars(sa.select(table.c.id)))
    assert ids == ["old_0", "old_1", "old_2"]
