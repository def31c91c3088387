"""The embedded backend's reads and writes keep values and types: `arrays` (the analysis'
numpy columns) and `insert` from Python lists, numpy arrays or Arrow arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rampway.events.clickhouse.store import ClickHouseEvents


def test_arrays_are_numbers_or_objects_with_nulls_kept(chdb_events: ClickHouseEvents) -> None:
    found = chdb_events.backend.arrays(
        "SELECT toInt64(number) AS n, if(number = 1, NULL, toInt64(number)) AS maybe, "
        "toLowCardinality(toString(number % 2)) AS arm, "
        "toLowCardinality(if(number = 2, NULL, 'x')) AS odd, number / 4 AS f "
        "FROM numbers(4) ORDER BY number")
    n, maybe, arm, odd, f = found
    assert n.dtype == np.int64 and n.tolist() == [0, 1, 2, 3]
    assert maybe.dtype == np.float64 and np.isnan(maybe[1]) and maybe[[0, 2, 3]].tolist() == [
        0, 2, 3]
    assert arm.dtype == object and arm.tolist() == ["0", "1", "0", "1"]
    assert odd.tolist() == ["x", "x", None, "x"]
    assert f.tolist() == [0.0, 0.25, 0.5, 0.75]
    empty = chdb_events.backend.arrays("SELECT number, toString(number) FROM numbers(0)")
    assert [len(c) for c in empty] == [0, 0]


def test_insert_takes_lists_numpy_and_arrow_and_refuses_what_a_column_cannot_hold(
    chdb_events: ClickHouseEvents,
) -> None:
    backend = chdb_events.backend
    backend.command("CREATE TABLE t (a Int64, b Nullable(String), c Float64) "
                    "ENGINE = MergeTree ORDER BY a")
    types = {"a": "Int64", "b": "Nullable(String)", "c": "Float64"}
    backend.insert("t", types, [[1, 2], ["x", None], [0.5, 1.5]])
    backend.insert("t", types, [np.array([3, 4]), pa.array(["y", None]), np.array([2.5, 3.5])])
    backend.insert("t", types, [pa.array([5], pa.int32()), pa.nulls(1), pa.array([4.5])])
    assert backend.columns("SELECT a, b, c FROM t ORDER BY a") == [
        [1, 2, 3, 4, 5], ["x", None, "y", None, None], [0.5, 1.5, 2.5, 3.5, 4.5]]
    with pytest.raises((ValueError, TypeError)):
        backend.insert("t", types, [[6], ["z"], ["fast"]])
    with pytest.raises((ValueError, TypeError)):
        backend.insert("t", types, [pa.array(["6"]), pa.array(["z"]), pa.array([1.0])])
    assert backend.columns("SELECT count() FROM t") == [[5]]
