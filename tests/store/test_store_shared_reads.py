"""`Store.shared_reads`: the reads inside share one connection and transaction; no others."""

from __future__ import annotations

import threading

import pytest

from rampway.errors import StoreError
from rampway.store import Store


def _connection_id(store: Store) -> int:
    with store.reading() as conn:
        return id(conn.connection.dbapi_connection)

def test_reads_inside_share_one_connection_and_outside_do_not(store: Store) -> None:
    with store.reading() as a, store.reading() as b:  # outside: a connection each
        assert a.connection.dbapi_connection is not b.connection.dbapi_connection
    seen: list[int] = []
    with store.shared_reads():
        first = _connection_id(store)
        with store.shared_reads():  # nested: still the same one
            assert _connection_id(store) == first
        thread = threading.Thread(target=lambda: seen.append(_connection_id(store)))
        thread.start()
        thread.join()
        assert _connection_id(store) == first
    assert seen and seen[0] != first  # a thread started inside reads on its own

def test_a_failing_read_inside_still_arrives_as_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError), store.shared_reads(), store.reading() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
