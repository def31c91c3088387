"""Latency quantiles (latency_p95) read from the experiments' roll-up, not from the event log.

The event-log path (`rampway.experiments.extract`) computes, per arm, the q-quantile Q of the
successful requests' latencies of singly exposed units (numpy's linear definition) and its
Woodruff standard error over units: `woodruff_se(quantile_at, q, share_se(b, n))`, with per
unit b_u its successful requests at or below Q and n_u all of them. Q is only known at
analysis time, so the roll-up (`rampway.experiments.rollup`) keeps two histograms that the
sinks add to per batch and `merge` fills from the event log, in the buckets of
`rampway._latency_buckets` (the rollout judge's):

* `experiment_rollup_latency`, per (arm, fine 1% bucket): the arm's histogram. Q and the
  quantiles at q ± z·se that Woodruff needs are read off it as the judge reads its own
  (`histogram_quantile`: interpolated in log inside the bucket, so within ~1% of the exact
  quantile). A few thousand rows per experiment, split over `rollup.SLOTS` slots so that two
  sinks seldom wait on each other's rows.
* `experiment_rollup_unit_latency`, per (unit, arm, coarse bucket of `rollup.COARSE` = 23
  fine ones, ~26% wide): each unit's histogram, a handful of rows per unit. b_u is n_u minus
  the unit's requests above Q: those of the coarse buckets above Q's, plus the share (1 − f)
  of Q's coarse bucket that lies above Q — f read off the arm's fine histogram. Treating each
  of the unit's c_u requests in that bucket as below Q with probability f, E[b_u²] = b̃_u² +
  c_u f (1 − f): the binomial term is added to Σb². One grouped query over the rows at or above
  Q's coarse bucket (the tail: a few % of the rows for p95) returns Σa, Σa², Σa·n and Σc per
  arm and q (a_u the unit's requests above Q); Σn and Σn² come with the unit rows the analysis
  already read. Nothing per unit reaches the client beyond those.

Why 23: a simulation (numpy; lognormal latencies with a per-unit random effect of sd 0.1 to
0.6, ~20 requests per unit, 5000 units, 20 draws) of the share's standard error against the
exact one: coarse buckets of 10 fine ones (10% wide) are within 0.2% on average (worst
0.9%), 23 within 0.9% (worst 2.7%), 35 within 2.8% (4.4%), 70 (2x wide) 7.4% (10%) — the
binomial term assumes a unit's requests in the bucket independent of each other, which the
per-unit effect breaks more the wider the bucket; without it the error doubles. Narrower
buckets mean more rows per unit (storage, the tail query), not more rows per batch: a batch
holds one or two requests of most units. The error is on the small side (a slightly narrow
interval), so tests allow 5%.

Units seen in two arms (a "multiple exposure": arm_lo != arm_hi on the unit row) are left
out of everything, as the event-log path does: of the per-unit sums exactly (their unit rows
are dropped by the join), of the arm's fine histogram at coarse resolution — their coarse
counts (per arm: the unit's rows are keyed by the arm that served them) are taken out of the
arm's fine buckets in proportion to the arm's counts in each coarse bucket. The arm's
histogram is then exact at every coarse edge; inside the coarse bucket of Q the cumulative
count is off by at most the multiply exposed units' requests in that bucket (m), so the
quantile lies between the exact histogram's quantiles at ranks ±m (a test bounds it). There is
no cheaper exact way: a unit's first requests are rolled up before it is seen in its second
arm, and the event log has no index by unit to read its requests back.

The roll-up holds every successful request in both histograms or in neither (one batch, one
transaction), so `quantiles` checks that the arms' histogram counts the units' successful
requests; rows written by a sink of an earlier version (no histograms) fail that check and the
analysis reads the event log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from rampway._latency_buckets import BUCKETS, bucket_of_ms, histogram_quantile, position
from rampway.experiments.extract import WORK_MEM
from rampway.experiments.model import Arm
from rampway.experiments.rollup import COARSE
from rampway.experiments.tables import (
    experiment_rollup_latency,
    experiment_rollup_unit_latency,
    experiment_rollup_units,
)
from rampway.stats._units import woodruff_se

Array = NDArray[np.float64]
Quantiles = dict[str, dict[float, tuple[float, float, int]]]


def quantiles(conn: sa.Connection, experiment_id: int, arms: Sequence[Arm],
              qs: Sequence[float], ok: Mapping[str, Array], multiple: int,
              ) -> tuple[Quantiles | None, str]:
    """Per arm and q: (quantile, Woodruff standard error over units, units), as
    `ArmUnits.quantiles` holds them; `ok`: per arm, the successful requests of each singly
    exposed unit (the unit rows already read, in the same snapshot); `multiple`: how many
    units are multiply exposed. (None, why) when the histograms do not hold the roll-up's
    requests."""
    if conn.dialect.name == "postgresql":
        # the tail's per-unit aggregate of a large roll-up sorts on disk at the default 4MB
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
    hist = _arm_histograms(conn, experiment_id, len(arms))
    stored = conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(
        experiment_rollup_units.c.ok_requests), 0)).where(
        experiment_rollup_units.c.experiment_id == experiment_id))
    if int(stored or 0) != int(round(float(hist.sum()))):
        return None, "the roll-up's latency histograms do not hold its requests"
    if multiple:
        hist = _without(hist, _multiple_exposures(conn, experiment_id, len(arms)))
    points: list[tuple[int, float, float, int, float]] = []  # arm, q, Q, coarse K, f
    for i in range(len(arms)):
        for q in qs:
            quantile = histogram_quantile(hist[i], q)
            if math.isfinite(quantile):
                points.append((i, q, quantile, *_split(hist[i], quantile)))
    sums = _tail_sums(conn, experiment_id, points)
    out: Quantiles = {}
    for i, a in enumerate(arms):
        n = ok[a.name][ok[a.name] > 0]
        out[a.name] = {q: (math.nan, math.inf, 0) for q in qs}
        for j, (arm, q, quantile, _, f) in enumerate(points):
            if arm != i:
                continue
            sa_, saa, san, sc = sums[j]
            sn, snn = float(n.sum()), float((n * n).sum())
            # b = n - a: Σb, Σb² (+ the binomial term of the split bucket), Σb·n
            se = share_se_from_sums(n.size, sn - sa_, snn - 2 * san + saa + sc * f * (1 - f),
                                    snn - san, sn, snn)
            out[a.name][q] = (quantile, woodruff_se(
                lambda p, h=hist[i]: histogram_quantile(h, p), q, se), int(n.size))
    return out, ""


def share_se_from_sums(k: int, sb: float, sbb: float, sbn: float, sn: float,
                       snn: float) -> float:
    """`rampway.stats._units.share_se` (the delta method's standard error of Σb / Σn over k
    units) from the sums Σb, Σb², Σb·n, Σn, Σn² instead of the per-unit values."""
    if k < 2 or sn <= 0:
        return math.inf
    mx, my = sb / k, sn / k
    var_x = (sbb - k * mx * mx) / (k - 1)
    var_y = (snn - k * my * my) / (k - 1)
    cov = (sbn - k * mx * my) / (k - 1)
    r = mx / my
    return math.sqrt(max((var_x - 2 * r * cov + r * r * var_y) / (k * my * my), 0.0))


def _arm_histograms(conn: sa.Connection, experiment_id: int, arms: int) -> Array:
    """(arms, BUCKETS) counts of the arms' fine histogram, all slots added."""
    t = experiment_rollup_latency.c
    hist = np.zeros((arms, BUCKETS))
    for arm, bucket, count in conn.execute(
            sa.select(t.arm, t.bucket, sa.func.sum(t["count"]))
            .where(t.experiment_id == experiment_id).group_by(t.arm, t.bucket)):
        if 0 <= arm < arms and 0 <= bucket < BUCKETS:
            hist[arm, bucket] = float(count)
    return hist


def _multiple_exposures(conn: sa.Connection, experiment_id: int, arms: int) -> Array:
    """(arms, coarse buckets) counts of the multiply exposed units' requests: their rows
    looked up by unit (a LATERAL subquery kept apart by OFFSET 0: PostgreSQL, expecting a
    third of the units to be multiply exposed, otherwise hashes them against every row —
    2.7 s over 500k units at load 7 — instead of a few index lookups per unit)."""
    h, u = experiment_rollup_unit_latency.c, experiment_rollup_units.c
    out = np.zeros((arms, _coarse_buckets()))
    theirs: sa.FromClause = experiment_rollup_unit_latency
    on: sa.ColumnElement[bool] = sa.and_(h.experiment_id == u.experiment_id, h.unit == u.unit)
    if conn.dialect.name == "postgresql":  # SQLite has no LATERAL, and loops by unit anyway
        theirs = (sa.select(h.arm, h.bucket, h["count"]).where(on)
                  .offset(0)  # not flattened into a plain join
                  .lateral("theirs"))
        on = sa.true()
    t = theirs.c
    rows = conn.execute(
        sa.select(t.arm, t.bucket, sa.func.sum(t["count"]))
        .select_from(experiment_rollup_units.join(theirs, on))
        .where(u.experiment_id == experiment_id, u.arm_lo != u.arm_hi)
        .group_by(t.arm, t.bucket))
    for arm, bucket, count in rows:
        if 0 <= arm < arms and 0 <= bucket < out.shape[1]:
            out[arm, bucket] = float(count)
    return out


def _coarse_buckets() -> int:
    return -(-BUCKETS // COARSE)


def _without(hist: Array, coarse: Array) -> Array:
    """The fine histograms less `coarse` counts, each coarse bucket's taken from its fine
    buckets in proportion to their counts."""
    padded = np.zeros((hist.shape[0], _coarse_buckets() * COARSE))
    padded[:, :BUCKETS] = hist
    blocks = padded.reshape(hist.shape[0], -1, COARSE)
    totals = blocks.sum(axis=2)
    keep = np.divide(totals - coarse, totals, out=np.zeros_like(totals), where=totals > 0)
    kept = blocks * np.clip(keep, 0.0, 1.0)[:, :, None]
    return np.asarray(kept.reshape(hist.shape[0], -1)[:, :BUCKETS])


def _split(hist: Array, quantile: float) -> tuple[int, float]:
    """The coarse bucket holding `quantile`, and the share f of the arm's requests in it that
    lie at or below `quantile` (interpolated in its fine bucket as the judge does)."""
    k = bucket_of_ms(quantile)
    coarse = k // COARSE
    lo = coarse * COARSE
    total = float(hist[lo:lo + COARSE].sum())
    below = float(hist[lo:k].sum()) + position(quantile, k) * float(hist[k])
    return coarse, min(max(below / total, 0.0), 1.0) if total > 0 else 0.0


def _tail_sums(conn: sa.Connection, experiment_id: int,
               points: Sequence[tuple[int, float, float, int, float]],
               ) -> list[tuple[float, float, float, float]]:
    """Per point (arm, q, Q, K, f): Σa, Σa², Σa·n, Σc over the arm's singly exposed units,
    a_u = the unit's requests above Q (those of coarse buckets above K, and 1 − f of its c_u
    in K), in one grouped query over the units' rows at or above K."""
    if not points:
        return []
    h, u = experiment_rollup_unit_latency.c, experiment_rollup_units.c
    above: list[sa.ColumnElement[Any]] = []
    inside: list[sa.ColumnElement[Any]] = []
    for j, (arm, _, _, k, f) in enumerate(points):
        mine = h.arm == arm
        above.append(sa.func.sum(sa.case(
            (sa.and_(mine, h.bucket > k), sa.cast(h["count"], sa.Float(53))),
            (sa.and_(mine, h.bucket == k), h["count"] * sa.literal(1.0 - f, sa.Float(53))),
            else_=sa.literal(0.0, sa.Float(53)))).label(f"a{j}"))
        inside.append(sa.func.sum(sa.case((sa.and_(mine, h.bucket == k), h["count"]),
                                          else_=0)).label(f"c{j}"))
    lowest: dict[int, int] = {}
    for arm, _, _, k, _ in points:
        lowest[arm] = min(k, lowest.get(arm, k))
    tail = (sa.select(h.unit, h.arm, *above, *inside)
            .where(h.experiment_id == experiment_id,
                   sa.or_(*(sa.and_(h.arm == arm, h.bucket >= k) for arm, k in lowest.items())))
            .group_by(h.unit, h.arm).subquery("tail"))
    t = tail.c
    n = sa.cast(u.ok_requests, sa.Float(53))
    sums: list[sa.ColumnElement[Any]] = []
    for j in range(len(points)):
        a = t[f"a{j}"]
        sums += [sa.func.sum(a), sa.func.sum(a * a), sa.func.sum(a * n),
                 sa.func.sum(t[f"c{j}"])]
    row = conn.execute(
        sa.select(*sums).select_from(tail.join(experiment_rollup_units, sa.and_(
            u.experiment_id == experiment_id, u.unit == t.unit)))
        .where(u.arm_lo == u.arm_hi, u.arm_lo == t.arm)).one()
    values = [0.0 if v is None else float(v) for v in row]
    return [(values[4 * j], values[4 * j + 1], values[4 * j + 2], values[4 * j + 3])
            for j in range(len(points))]


__all__ = ["quantiles", "share_se_from_sums"]
