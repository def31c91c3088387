"""Feedback metrics from the experiments' roll-up: each unit's feedback counted against the
roll-up's units, not against the window's requests (issue #18).

The numbers are `rampway.experiments.extract`'s, by the same rules and the same SQL
(`_feedback_rows`, `_feedback`): per unit and feedback name, the events at or after the unit's
exposure and up to `until` — count, sum of values, whether any had a value > 0 — where a
feedback event belongs to its own unit (`unit_hash`, or `session_hash` for a session
experiment), or else to the unit of the request it names, and one tagged with another feature
is not this experiment's. Only the exposure differs: the roll-up's row per unit (its
`first_ts`) instead of a GROUP BY over the window's requests, which `load_rollup_units` has
already checked to be the same.

What made feedback slow was not the exposure but finding the feedback's units: feedback that
names a request takes that request's unit, a join of the feedback with every request (15 s of
the 47 s over 10M requests). The SQL event sink now fills a feedback event's NULL unit and
session from the request it names when it writes it (`rampway.events.sink.FeedbackUnits`), so
that join is left with the few rows it could not fill (their request not written yet, or
written by other means): the union's second half, looked up by id. Filling only NULL columns
keeps the rule above word for word, so the event log's path reads the same numbers from the
same rows, filled or not.

Measured (bench/experiment_analysis.py, PostgreSQL 15, the shared 2-core machine at load 8-10):
1M requests with 30% rated, `--path rollup-feedback`: 3.2 s from the roll-up against 10.3 s
from the event log for the same metrics; the 10M stand-in (`--rollup-feedback-units 500000`:
500k units, 3M feedback rows) 15.6 s — most of it the hash join of the 3M feedback rows with
the units and its per-unit aggregate (EXPLAIN ANALYZE), not the named-request join any more.

    plan(conn)  # PostgreSQL: parallel workers for the join
    agg, columns = per_unit(experiment_id, feature, names, until, unit)
    query = select(units..., *columns).select_from(units.outerjoin(agg, agg.c.unit_hash == ...))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from rampway.experiments.extract import WORK_MEM, _feedback, _feedback_rows
from rampway.experiments.tables import experiment_rollup_units


def plan(conn: sa.Connection) -> None:
    """PostgreSQL: settings for the transaction (SET LOCAL) under which the join is planned in
    parallel. Left to its defaults the planner ran the join of 3M feedback rows with 500k
    units serially (20.3 s at load 8, bench/experiment_analysis.py's 10M stand-in; 12.0 s in
    parallel): it prices each row a worker hands back (`parallel_tuple_cost`) above what the
    workers save. `work_mem` as `load_units` sets it: the per-unit hash tables stay in memory."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
    conn.exec_driver_sql("SET LOCAL parallel_setup_cost = 0")
    conn.exec_driver_sql("SET LOCAL parallel_tuple_cost = 0")


def per_unit(experiment_id: int, feature: str, names: Sequence[str], until: float, unit: str,
             ) -> tuple[sa.Subquery, list[sa.ColumnElement[Any]]]:
    """The feedback per unit of the experiment's roll-up (a subquery keyed by `unit_hash`, to
    left-join to `experiment_rollup_units.unit`), and its columns in `load_units`' order: per
    name count, sum and converted, 0 for a unit without feedback."""
    u = experiment_rollup_units.c
    exposure = (sa.select(u.unit.label("unit_hash"), u.first_ts)
                .where(u.experiment_id == experiment_id).subquery("exposure"))
    rows = _feedback_rows(feature, names, until, unit).subquery("feedback_rows")
    agg = _feedback(exposure, rows, names)
    columns: list[sa.ColumnElement[Any]] = [sa.func.coalesce(agg.c[f"{k}{i}"], 0)
                                            for i in range(len(names)) for k in "nsc"]
    return agg, columns


__all__ = ["per_unit", "plan"]
