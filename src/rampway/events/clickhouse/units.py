"""An experiment's per-unit aggregates read from ClickHouse: the same queries as on SQL.

`rampway.experiments.extract` builds the per-unit aggregation as SQLAlchemy Core: the
exposure (`_exposure` over `_window`), then the per-unit rows with their feedback
(`_per_unit`). Here the very same selects are compiled for ClickHouse
(`rampway.events.clickhouse.sql`) and their rows arranged into the same `Extraction`, so every
metric means the same on both stores. Nothing per request reaches the client, except with
`latency=True` (the per-request path the tests compare with).

Shaped for ClickHouse, as the SQL path is shaped for PostgreSQL (its temporary exposure table):

* the exposure is computed once into a scratch `Memory` table (one row per unit, dropped
  afterwards) whenever it is read twice — with feedback (ClickHouse inlines a CTE at each
  reference, so `units_query`'s CTE scanned the window twice) or with quantiles;
* with quantiles that table also keeps each unit's successful latencies as an array (one
  extra aggregate in the same scan: `latencies`), from which `quantiles` reads the order
  statistics and per-unit counts instead of scanning and joining the requests again
  (`latency_query`'s GROUP BY joined back to the window, 3× the work);
* results come back as Arrow columns turned into numpy arrays (`Backend.arrays`), not as
  Python objects per value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.quantiles import LATENCIES, arm_quantiles
from rampway.events.clickhouse.sql import to_clickhouse
from rampway.events.tables import request_events
from rampway.experiments import metrics as m
from rampway.experiments.extract import (
    _EMPTY,
    REQUEST_COLUMNS,
    ArmUnits,
    Array,
    Extraction,
    _column_names,
    _exposure,
    _per_unit,
    _window,
    latency_query,
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
    exposure = _exposure(_window(feature, arms, since, until, unit), unit)
    with _exposure_source(backend, exposure, scratch=bool(feedback or quantiles),
                          latencies=bool(quantiles)) as source:
        found = backend.arrays(to_clickhouse(_per_unit(source, feature, until, feedback, unit)))
        qs = (arm_quantiles(backend, source.name, arms, quantiles)
              if quantiles and isinstance(source, sa.Table) else {})
    lo, hi = found[0], found[1]
    values = (np.column_stack([np.asarray(c, dtype=np.float64) for c in found[2:]])
              if len(lo) else np.zeros((0, len(names))))
    single = lo == hi
    requests = values[~single, REQUEST_COLUMNS.index(m.REQUESTS)]
    lat = _latencies(backend, feature, arms, since, until, unit) if latency else {}
    out = []
    for a in arms:
        table = values[single & (lo == a.name)]
        columns = {name: np.ascontiguousarray(table[:, j]) for j, name in enumerate(names)}
        lat_values, labels = lat.get(a.name, (_EMPTY, _EMPTY))
        out.append(ArmUnits(a.name, a.release_id, columns, lat_values, labels, qs.get(a.name, {})))
    return Extraction(tuple(out), since, until, int(np.count_nonzero(~single)),
                      int(requests.sum()))


@contextmanager
def _exposure_source(backend: Backend, exposure: sa.Select[Any], *, scratch: bool,
                     latencies: bool) -> Iterator[sa.FromClause]:
    """The exposure to read the per-unit rows from: a CTE when read once, else a scratch
    `Memory` table (with the `latencies` arrays when asked), dropped on leaving."""
    if not scratch:
        yield exposure.cte("exposure")
        return
    if latencies:
        ev = request_events.c
        # `latency_query`'s rows grouped by unit: its successful requests (status ok, as
        # there) of the window; `quantiles` keeps the singly exposed units (arm = arm_max)
        exposure = exposure.add_columns(
            sa.func.groupArrayIf(ev.latency_ms, ev.status == "ok").label(LATENCIES))
    name = f"rampway_exposure_{uuid.uuid4().hex[:12]}"
    backend.command(f"CREATE TABLE {name} ENGINE = Memory AS {to_clickhouse(exposure)}")
    try:
        yield sa.Table(name, sa.MetaData(), *(sa.Column(c.name) for c in exposure.selected_columns))
    finally:
        backend.command(f"DROP TABLE IF EXISTS {name}")


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
