"""Latency quantiles of an experiment's arms and their Woodruff standard errors, on ClickHouse.

The same numbers as `rampway.experiments.extract` computes on SQL (numpy's linear quantile of
the successful requests of singly exposed units, the share below it per unit, the order
statistics at q ± z·se), in a few queries whatever the number of arms and quantiles (each
ClickHouse query has a fixed cost, and the SQL path's ~5 per arm and quantile added up). They
read the exposure's scratch table of `rampway.events.clickhouse.units`, which holds per unit
its arm, the arm's maximum (a different one: a multiple exposure, left out) and its
successful requests' latencies as an array — `latency_query`'s rows, grouped by unit:

    1. per arm: n (the arrays' total length);
    2. per arm: the order statistics at floor(p·(n-1)) and the next, by `quantilesExactLow`
       at a level that lands on exactly that position — a selection (nth_element), not a sort
       of the arm's latencies; nothing per request comes back;
    3. per unit: its requests at or below its arm's quantile (`arrayCount` over its array)
       and its requests;
    4. the order statistics of step 2 again at the p's Woodruff's interval needs.

The interpolation between two order statistics is `rampway.store._quantile`'s, so a quantile
read here equals the SQL path's to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.schema import quote
from rampway.events.clickhouse.sql import SETTINGS
from rampway.experiments.model import Arm
from rampway.stats._units import Z95, share_se, woodruff_se

#: The exposure's scratch-table column of each unit's successful latencies (`units`).
LATENCIES = "latencies"

Quantiles = dict[str, dict[float, tuple[float, float, int]]]


def arm_quantiles(
    backend: Backend, table: str, arms: Sequence[Arm], qs: Sequence[float],
) -> Quantiles:
    """Per arm and q: (quantile, Woodruff standard error, units), from the exposure's scratch
    `table` (see the module docstring)."""
    base = f"SELECT arm, {LATENCIES} FROM {table} WHERE arm = arm_max AND notEmpty({LATENCIES})"
    found_arms, found_sizes = backend.arrays(
        f"SELECT arm, sum(length({LATENCIES})) FROM ({base}) GROUP BY arm")
    sizes = {str(a): int(n) for a, n in zip(found_arms, found_sizes, strict=True) if n > 0}
    if not sizes:  # no latencies in the window
        return {a.name: {q: (math.nan, math.inf, 0) for q in qs} for a in arms}
    stats = _order_stats(backend, base, sizes, qs)
    quantile = {(a, q): _interpolate(sizes[a], q, stats[a][q]) for a in sizes for q in qs}
    per_unit = _per_unit(backend, base, sizes, qs, quantile)
    shares = {(a, q): share_se(below[:, i], counts)
              for a, (below, counts) in per_unit.items() for i, q in enumerate(qs)}
    wanted = sorted({p for (_, q), se in shares.items() for p in _bounds(q, se)})
    more = _order_stats(backend, base, sizes, wanted) if wanted else {}
    out: Quantiles = {a.name: {} for a in arms}
    for a in out:
        for q in qs:
            n = sizes.get(a, 0)
            if n == 0:
                out[a][q] = (math.nan, math.inf, 0)
                continue
            se = woodruff_se(lambda p, a=a, n=n: _interpolate(n, p, more[a][p]), q,
                             shares[a, q])
            out[a][q] = (quantile[a, q], se, len(per_unit[a][1]))
    return out


def _bounds(q: float, se: float) -> list[float]:
    """The p's `woodruff_se` reads for this q and share standard error."""
    if not math.isfinite(se):
        return []
    return [max(0.0, q - Z95 * se), min(1.0, q + Z95 * se)]


def _order_stats(backend: Backend, base: str, sizes: Mapping[str, int], ps: Sequence[float],
                 ) -> dict[str, dict[float, tuple[float, float]]]:
    """Per arm: for each p the order statistics at floor(p·(n-1)) and the next (0-based)."""
    selected, wanted = [], []
    for arm, n in sizes.items():
        positions = sorted({k for p in ps for k in _positions(n, p)})
        # quantileExactLow(level) is the element at position floor(level·n) of the sorted
        # values (a selection, not a sort); (k + ½)/n lands on k whatever the rounding
        levels = ", ".join(repr((k + 0.5) / n) for k in positions)
        selected.append(f"quantilesExactLowIf({levels})(x, arm = {quote(arm)})")
        wanted.append(positions)
    found = backend.columns(f"SELECT {', '.join(selected)} FROM ({base}) "
                            f"ARRAY JOIN {LATENCIES} AS x" + SETTINGS)
    stats = {}
    for (arm, n), positions, (values,) in zip(sizes.items(), wanted, found, strict=True):
        at = dict(zip(positions, map(float, values), strict=True))
        stats[arm] = {p: (at[_positions(n, p)[0]], at[_positions(n, p)[-1]]) for p in ps}
    return stats


def _positions(n: int, p: float) -> tuple[int, int]:
    """The 0-based positions `_interpolate` reads for p among n sorted values."""
    lo = math.floor(p * (n - 1))
    return lo, min(lo + 1, n - 1)


def _interpolate(n: int, p: float, pair: tuple[float, float] | None) -> float:
    """`rampway.store._quantile.linear_quantile`'s value from its two order statistics."""
    if n <= 0 or pair is None:
        return math.nan
    pos = p * (n - 1)
    lo = math.floor(pos)
    first, last = pair if lo + 1 <= n - 1 else (pair[0], pair[0])
    return first + (last - first) * (pos - lo)


def _per_unit(backend: Backend, base: str, sizes: Mapping[str, int], qs: Sequence[float],
              quantile: Mapping[tuple[str, float], float],
              ) -> dict[str, tuple[Any, Any]]:
    """Per arm: (units × qs array of requests at or below the quantile, requests per unit)."""
    arms = list(sizes)
    names = ", ".join(quote(a) for a in arms)
    below = []
    for q in qs:
        values = ", ".join(_float(quantile[a, q]) for a in arms)
        below.append(f"arrayCount(x -> x <= transform(arm, [{names}], [{values}], nan), "
                     f"{LATENCIES})")
    found = backend.arrays(
        f"SELECT arm, {', '.join([*below, f'length({LATENCIES})'])} FROM ({base})" + SETTINGS)
    arm_of = found[0]
    counts = np.asarray(found[-1], dtype=np.float64)
    table = (np.column_stack([np.asarray(c, dtype=np.float64) for c in found[1:-1]])
             if len(qs) else np.zeros((len(counts), 0)))
    return {a: (table[arm_of == a], counts[arm_of == a]) for a in arms}


def _float(value: float) -> str:
    return repr(value) if math.isfinite(value) else "nan"


__all__ = ["LATENCIES", "arm_quantiles"]
