"""An experiment's per-unit aggregates read from ClickHouse: the same queries as on SQL.

`rampway.experiments.extract` builds the per-unit aggregation (`units_query`) and the
latencies of singly exposed units (`latency_query`) as SQLAlchemy Core selects; here they are
compiled for ClickHouse (`rampway.events.clickhouse.sql`) and their rows arranged into the
same `Extraction`, so every metric means the same on both stores. Latency quantiles come from
`rampway.events.clickhouse.quantiles` (three queries over `latency_query`). Nothing per
request reaches the client, except with `latency=True` (the per-request path the tests
compare with).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.quantiles import arm_quantiles
from rampway.events.clickhouse.sql import to_clickhouse
from rampway.experiments import metrics as m
from rampway.experiments.extract import (
    _EMPTY,
    REQUEST_COLUMNS,
    ArmUnits,
    Array,
    Extraction,
    _column_names,
    latency_query,
    units_query,
)
from rampway.experiments.model import Arm


def load_units(
    backend: Backend, *, feature: str, arms: Sequence[Arm], since: float, until: float,
    feedback: Sequence[str] = (), latency: bool = False, quantiles: Sequence[float] = (),
    unit: str = "user",
) -> Extraction:
    """`rampway.experiments.extract.load_units`, on ClickHouse."""
    feedback = tuple(dict.fromkeys(feedback))
    names = _column_names(feedback)
    found = backend.columns(to_clickhouse(units_query(feature, arms, since, until, feedback,
                                                      unit)))
    lo, hi = np.asarray(found[0], dtype=object), np.asarray(found[1], dtype=object)
    values = np.asarray(found[2:], dtype=np.float64).reshape(len(names), -1).T
    single = lo == hi
    requests = values[~single, REQUEST_COLUMNS.index(m.REQUESTS)]
    lat = _latencies(backend, feature, arms, since, until, unit) if latency else {}
    qs = arm_quantiles(backend, feature, arms, since, until, quantiles, unit) if quantiles else {}
    out = []
    for a in arms:
        table = values[single & (lo == a.name)]
        columns = {name: np.ascontiguousarray(table[:, j]) for j, name in enumerate(names)}
        lat_values, labels = lat.get(a.name, (_EMPTY, _EMPTY))
        out.append(ArmUnits(a.name, a.release_id, columns, lat_values, labels, qs.get(a.name, {})))
    return Extraction(tuple(out), since, until, int(np.count_nonzero(~single)),
                      int(requests.sum()))


def _latencies(
    backend: Backend, feature: str, arms: Sequence[Arm], since: float, until: float, unit: str,
) -> dict[str, tuple[Array, Any]]:
    arm, label, value = backend.columns(to_clickhouse(
        latency_query(feature, arms, since, until, unit)))
    arm_of = np.asarray(arm, dtype=object)
    labels = np.asarray(label, dtype=np.str_)
    values = np.asarray(value, dtype=np.float64)
    return {a.name: (values[arm_of == a.name], labels[arm_of == a.name]) for a in arms}


__all__ = ["load_units"]
