"""The distribution functions the statistics use, without importing `scipy.stats` for the normal.

`scipy.stats` takes ~0.5 s of CPU (1-2 s wall on a cold, busy machine) to import, which a
command such as `rampway shadow report` paid for a normal quantile alone. `scipy.stats.norm`
computes its quantile and tail with `scipy.special.ndtri` and `ndtr` (times a scale of 1, plus a
location of 0): the same floats, bit for bit, from the small module. Student's t and chi-squared
still come from `scipy.stats`, imported on their first use.

    >>> round(norm_ppf(0.975), 6), round(2 * norm_sf(1.959964), 4)
    (1.959964, 0.05)
"""

from __future__ import annotations

from scipy.special import ndtr, ndtri


def norm_ppf(q: float) -> float:
    """`scipy.stats.norm.ppf(q)`: the standard normal quantile."""
    return float(ndtri(q))


def norm_sf(x: float) -> float:
    """`scipy.stats.norm.sf(x)`: the standard normal upper tail."""
    return float(ndtr(-x))


def t_ppf(q: float, df: float) -> float:
    """`scipy.stats.t.ppf(q, df)`."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def t_sf(x: float, df: float) -> float:
    """`scipy.stats.t.sf(x, df)`."""
    from scipy import stats

    return float(stats.t.sf(x, df))


def chi2_sf(x: float, df: float) -> float:
    """`scipy.stats.chi2.sf(x, df)`."""
    from scipy import stats

    return float(stats.chi2.sf(x, df))
