"""The ClickHouse event tables: created and migrated by rampway, TTL from the retention
(on the embedded engine, chdb)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.errors import ConfigError, StoreError
from rampway.events.clickhouse import parse_events_url, schema
from rampway.events.clickhouse.backend import ChdbBackend
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.tables import feedback_events, request_event_fields


def columns(events: ClickHouseEvents, table: str) -> dict[str, str]:
    names, types = events.backend.columns(
        f"SELECT name, type FROM system.columns WHERE database = currentDatabase() "
        f"AND table = '{table}' ORDER BY position")
    return dict(zip(names, types, strict=True))


def engine(events: ClickHouseEvents, table: str) -> str:
    (found,) = events.backend.columns(
        f"SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
        f"AND name = '{table}'")
    return str(found[0])


def test_the_tables_have_the_sql_tables_columns_and_nullability(chdb_events: ClickHouseEvents,
                                                               ) -> None:
    got = columns(chdb_events, "request_events")
    assert list(got) == [c.name for c in request_event_fields.columns]
    assert got["id"] == "String" and got["ts"] == "Float64"
    assert got["feature"] == "LowCardinality(String)"
    assert got["arm"] == "LowCardinality(Nullable(String))"
    assert got["unit_hash"] == "Nullable(String)" and got["refusal"] == "Bool"
    assert got["output_tokens"] == "Int64" and got["flags"] == "Nullable(String)"
    assert list(columns(chdb_events, "feedback_events")) == [
        c.name for c in feedback_events.columns]
    assert "ORDER BY (feature, ts)" in engine(chdb_events, "request_events")
    assert "PARTITION BY toYYYYMMDD(toDateTime(toUInt32(ts)))" in engine(
        chdb_events, "request_events")
    assert "ORDER BY (name, ts)" in engine(chdb_events, "feedback_events")


def test_migrations_apply_once_and_a_new_one_on_the_next_open(tmp_path: Path) -> None:
    target = parse_events_url(f"chdb://{tmp_path}")
    with ClickHouseEvents.open(target) as first:
        assert first.applied == [1] and first.versions() == [1]
    with ClickHouseEvents.open(target) as again:
        assert again.applied == []
    later = (*schema.MIGRATIONS, schema.Migration(2, "a test column", (
        "ALTER TABLE request_events ADD COLUMN IF NOT EXISTS test_note Nullable(String)",)))
    backend = ChdbBackend(tmp_path)
    try:
        upgraded = ClickHouseEvents(backend, migrations=later)
        assert upgraded.applied == [2] and sorted(upgraded.versions()) == [1, 2]
        assert "test_note" in columns(upgraded, "request_events")
    finally:
        backend.close()


def test_the_retention_is_the_tables_ttl_and_follows_the_setting(tmp_path: Path) -> None:
    target = parse_events_url(f"chdb://{tmp_path}")
    with ClickHouseEvents.open(target, retention_s=30 * 86400) as events:
        for table in schema.EVENT_TABLES:
            assert "TTL toDateTime(toUInt32(ts)) + toIntervalSecond(2592000)" in engine(
                events, table)
        events.set_retention(7 * 86400)
        assert "toIntervalSecond(604800)" in engine(events, "request_events")
        events.set_retention(None)
        assert " TTL " not in engine(events, "feedback_events")


def test_ttl_statements_change_nothing_that_is_already_right() -> None:
    current = "MergeTree ORDER BY (feature, ts) TTL toDateTime(toUInt32(ts)) + " \
              "toIntervalSecond(86400) SETTINGS index_granularity = 8192"
    assert schema.ttl_statements("t", current, 86400.0) == []
    assert schema.ttl_statements("t", "MergeTree ORDER BY ts", None) == []
    assert schema.ttl_statements("t", current, None) == ["ALTER TABLE t REMOVE TTL"]


def test_a_second_embedded_directory_in_one_process_is_a_config_error(
    chdb_events: ClickHouseEvents, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="cannot open"):
        ChdbBackend(tmp_path / "another")


def test_engine_errors_are_store_errors(chdb_events: ClickHouseEvents) -> None:
    with pytest.raises(StoreError, match="events store"):
        chdb_events.backend.columns("SELECT * FROM no_such_table")


def test_an_unreachable_server_is_a_store_error_without_its_password() -> None:
    from rampway.events.clickhouse.backend import ServerBackend

    with pytest.raises(StoreError, match=r"events store \(clickhouse://u:\*\*\*@127.0.0.1:1/db\)"):
        ServerBackend(parse_events_url("clickhouse://u:hunter2@127.0.0.1:1/db"),
                      connect_timeout=1)
