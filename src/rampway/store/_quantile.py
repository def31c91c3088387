"""A quantile read by the database: numpy's linear quantile from two order statistics.

Used where a quantile of millions of rows is needed without shipping them to the client (the
rollout judge's thresholds, the experiment analysis's p95 and its Woodruff bounds).
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def linear_quantile(conn: Connection, values: sa.Select[Any], n: int, p: float) -> float:
    """numpy's default (linear) p-quantile of the `n` values `values` (a one-column select)
    yields: the two order statistics around p (n - 1), interpolated. They are read from the
    nearer end (`ORDER BY … LIMIT 2 OFFSET k`), so a p95 sorts the top 5%, not everything.
    NaN when n is 0."""
    if n <= 0:
        return math.nan
    pos = p * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    rows = values.subquery("quantile_values")
    column = rows.c[0]
    if lo > (n - 1) / 2:
        query = (sa.select(column).order_by(column.desc()).limit(hi - lo + 1)
                 .offset(n - 1 - hi))
        found = [float(v) for v in conn.scalars(query)][::-1]
    else:
        query = sa.select(column).order_by(column).limit(hi - lo + 1).offset(lo)
        found = [float(v) for v in conn.scalars(query)]
    return found[0] + (found[-1] - found[0]) * (pos - lo)


__all__ = ["linear_quantile"]
