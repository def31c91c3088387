"""Latency quantiles of an experiment's arms and their Woodruff standard errors, on ClickHouse.

The same numbers as `rampway.experiments.extract` computes on SQL (numpy's linear quantile of
the successful requests of singly exposed units, the share below it per unit, the order
statistics at q ± z·se), in three queries whatever the number of arms and quantiles — each
ClickHouse query has a fixed cost (~30 ms embedded, a round trip to a server) and the SQL
path's ~5 per arm and quantile added up to seconds. Like the SQL path's temporary table, the
window's latencies of singly exposed units are first copied into a scratch `Memory` table
(dropped afterwards), which the three queries read:

    1. per arm: n and the two order statistics around each q's position (p·(n-1)), read off the
       arm's sorted latencies on the server (`arraySort(groupArray(…))`: memory on the server,
       8 bytes a request; nothing per request comes back);
    2. per unit: its requests at or below its arm's quantile, and its requests (one row per
       unit, as on SQL);
    3. the order statistics of step 1 again at the p's Woodruff's interval needs.

The interpolation between two order statistics is `rampway.store._quantile`'s, so a quantile
read here equals the SQL path's to the last bit.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.schema import quote
from rampway.events.clickhouse.sql import SETTINGS, to_clickhouse
from rampway.experiments.extract import latency_query
from rampway.experiments.model import Arm
from rampway.stats._units import Z95, share_se, woodruff_se

Quantiles = dict[str, dict[float, tuple[float, float, int]]]


def arm_quantiles(
    backend: Backend, feature: str, arms: Sequence[Arm], since: float, until: float,
    qs: Sequence[float], unit: str,
) -> Quantiles:
    """Per arm and q: (quantile, Woodruff standard error, units)."""
    latencies = to_clickhouse(latency_query(feature, arms, since, until, unit))
    # copied once into a scratch table (RAM on the server, ~16 bytes and a unit per request),
    # so the three queries read it instead of re-deriving the single exposures each time
    name = f"rampway_latency_{uuid.uuid4().hex[:12]}"
    backend.command(f"CREATE TABLE {name} ENGINE = Memory AS {latencies}")
    try:
        return _quantiles(backend, f"SELECT arm, unit_hash, latency_ms FROM {name}", arms, qs)
    finally:
        backend.command(f"DROP TABLE IF EXISTS {name}")


def _quantiles(backend: Backend, base: str, arms: Sequence[Arm], qs: Sequence[float],
               ) -> Quantiles:
    sizes, stats = _order_stats(backend, base, qs)
    if not sizes:  # no latencies in the window
        return {a.name: {q: (math.nan, math.inf, 0) for q in qs} for a in arms}
    quantile = {(a, q): _interpolate(sizes.get(a, 0), q, stats.get(a, {}).get(q))
                for a in sizes for q in qs}
    per_unit = _per_unit(backend, base, sizes, qs, quantile)
    shares = {(a, q): share_se(below[:, i], counts)
              for a, (below, counts) in per_unit.items() for i, q in enumerate(qs)}
    wanted = sorted({p for (_, q), se in shares.items() for p in _bounds(q, se)})
    _, more = _order_stats(backend, base, wanted) if wanted else ({}, {})
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


def _order_stats(backend: Backend, base: str, ps: Sequence[float],
                 ) -> tuple[dict[str, int], dict[str, dict[float, tuple[float, float]]]]:
    """Per arm: n, and for each p the order statistics at floor(p·(n-1)) and the next."""
    listed = ", ".join(repr(float(p)) for p in ps)
    arms, sizes, pairs = backend.columns(
        f"SELECT arm, length(s) AS n, arrayMap(p -> [s[toUInt64(floor(p * (n - 1))) + 1], "
        f"s[least(toUInt64(floor(p * (n - 1))) + 2, n)]], [{listed}]) "
        f"FROM (SELECT arm, arraySort(groupArray(latency_ms)) AS s FROM ({base}) GROUP BY arm)"
        + SETTINGS)
    stats = {a: {p: (float(lo), float(hi)) for p, (lo, hi) in zip(ps, found, strict=True)}
             for a, found in zip(arms, pairs, strict=True)}
    return {a: int(n) for a, n in zip(arms, sizes, strict=True)}, stats


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
    below = []
    for q in qs:
        values = ", ".join(_float(quantile[a, q]) for a in arms)
        names = ", ".join(quote(a) for a in arms)
        below.append(f"countIf(latency_ms <= transform(arm, [{names}], [{values}], nan))")
    found = backend.columns(
        f"SELECT arm, {', '.join([*below, 'count()'])} FROM ({base}) GROUP BY arm, unit_hash"
        + SETTINGS)
    arm_of = np.asarray(found[0], dtype=object)
    counts = np.asarray(found[-1], dtype=np.float64)
    table = np.asarray(found[1:-1], dtype=np.float64).reshape(len(qs), -1).T
    return {a: (table[arm_of == a], counts[arm_of == a]) for a in arms}


def _float(value: float) -> str:
    return repr(value) if math.isfinite(value) else "nan"


__all__ = ["arm_quantiles"]
