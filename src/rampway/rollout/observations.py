"""Observations of one arm for one metric: a value per observation and the unit it came from.

Assignment is per unit (a user, a session), so the judge compares arms *over units*: each
unit's observations are summed to (sum, count) and a per-request rate or mean becomes the ratio
sum_i x_i / sum_i n_i, with the delta method's variance over units (`rampway.stats.
ratio_summary`). `unit` is any integer label; observations without a unit get a label of
their own (each is its own unit, as assignment treats it).

>>> obs = Observations.of([1.0, 0.0, 1.0], units=[7, 7, 9])
>>> sums, counts = obs.per_unit()
>>> sums.tolist(), counts.tolist()
([1.0, 1.0], [2.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from rampway.stats import ArmSummary

Array = NDArray[np.float64]
Labels = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Observations:
    """`values[i]` was observed on unit `units[i]`."""

    values: Array
    units: Labels

    @classmethod
    def of(cls, values: Sequence[float] | NDArray[Any],
           units: Sequence[int] | NDArray[Any] | None = None) -> Observations:
        """Checked arrays; without `units` every observation is its own unit."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 1 or not np.all(np.isfinite(v)):
            raise ValueError("judge observations must be a one-dimensional array of finite values")
        u = (np.arange(v.size, dtype=np.int64) if units is None
             else np.asarray(units, dtype=np.int64))
        if u.shape != v.shape:
            raise ValueError(f"one unit label per value: {u.size} labels for {v.size} values")
        return cls(v, u)

    @property
    def size(self) -> int:
        return int(self.values.size)

    def unit_count(self) -> int:
        return int(np.unique(self.units).size) if self.units.size else 0

    def per_unit(self, values: Array | None = None) -> tuple[Array, Array]:
        """(sum, count) per unit of `values` (default: the observations' own values)."""
        totals = self.totals(values)
        return totals.sums, totals.counts

    def totals(self, values: Array | None = None) -> UnitTotals:
        """`UnitTotals` of `values` (default: the observations' own values)."""
        x = self.values if values is None else values
        if not self.units.size:
            return UnitTotals(np.zeros(0), np.zeros(0))
        _, dense = np.unique(self.units, return_inverse=True)
        sums = np.bincount(dense, weights=x).astype(np.float64)
        counts = np.bincount(dense).astype(np.float64)
        return UnitTotals(sums, counts)


@dataclass(frozen=True, slots=True)
class UnitTotals:
    """Per unit (one entry each, any order): the sum of its values and how many it has — all
    the judge needs for a rate or a mean, and what a database computes with one GROUP BY
    (`rampway.rollout.totals`) instead of shipping every request to the client."""

    sums: Array
    counts: Array

    @classmethod
    def of(cls, sums: Sequence[float] | NDArray[Any],
           counts: Sequence[float] | NDArray[Any]) -> UnitTotals:
        s, n = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
        if s.shape != n.shape or s.ndim != 1:
            raise ValueError("unit totals need one sum and one count per unit")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(n))):
            raise ValueError("unit totals must be finite")
        keep = n > 0  # a unit with nothing of this metric is not in its sample
        return cls(s[keep], n[keep])

    @property
    def observations(self) -> int:
        return int(self.counts.sum()) if self.counts.size else 0

    @property
    def units(self) -> int:
        return int(self.counts.size)

    @property
    def mean(self) -> float:
        """The per-observation mean (sum of sums over sum of counts); NaN when empty."""
        total = float(self.counts.sum()) if self.counts.size else 0.0
        return float(self.sums.sum()) / total if total else math.nan

    def summary(self) -> ArmSummary:
        """The ratio over units with the delta method's variance (`ratio_summary`)."""
        from rampway.stats import ratio_summary

        return ratio_summary(self.sums, self.counts)


@dataclass(frozen=True, slots=True)
class UnitMoments:
    """What the judge reads of an arm's per-unit (sum, count) pairs: K units with a count,
    Σx, Σy, Σx², Σy², Σxy. Same properties as `UnitTotals`."""

    k: float
    sx: float
    sy: float
    sxx: float
    syy: float
    sxy: float

    @property
    def observations(self) -> int:
        return round(self.sy)

    @property
    def units(self) -> int:
        return round(self.k)

    @property
    def mean(self) -> float:
        return self.sx / self.sy if self.sy else math.nan

    def summary(self) -> ArmSummary:
        """`rampway.stats.ratio_summary` of the pairs, from their moments (the same
        formula; rounding differs in the last digits)."""
        from rampway.stats import ArmSummary

        n = self.units
        my = self.sy / n if n else 0.0
        if n < 2 or my == 0:
            return ArmSummary(n, math.nan, math.nan)
        mx = self.sx / n
        r = mx / my
        cxx = (self.sxx - n * mx * mx) / (n - 1)
        cyy = (self.syy - n * my * my) / (n - 1)
        cxy = (self.sxy - n * mx * my) / (n - 1)
        var_r = (cxx - 2 * r * cxy + r * r * cyy) / (n * my**2)
        return ArmSummary(n, r, max(var_r, 0.0) * n)


#: What the judge accepts as an arm's per-unit totals.
Totals = UnitTotals | UnitMoments


def as_observations(sample: Observations | Sequence[float] | NDArray[Any]) -> Observations:
    """The judge accepts plain samples too (each value its own unit: independent data)."""
    return sample if isinstance(sample, Observations) else Observations.of(sample)


__all__ = ["Observations", "Totals", "UnitMoments", "UnitTotals", "as_observations"]
