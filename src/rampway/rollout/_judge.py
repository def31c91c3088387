"""The rollout judge: pure functions from (baseline sample, candidate sample, guardrail) to a
verdict, and from all verdicts to one decision. No I/O, no clock.

Each guardrail is tested with an always-valid confidence sequence (`rampway.stats.
sequential_diff`), so the controller may look every minute without inflating false alarms. The
verdict is Kayenta-like:

    NO_DATA  either arm has fewer than `min_sample` observations (or the interval is unbounded)
    FAIL     the candidate is worse than the baseline by more than the margin, with confidence
    PASS     enough data and no such evidence

How "worse by more than the margin" is tested, for bad = increase (decrease mirrors it):

* rates and means, relative margin m: the CS of the contrast `c - (1 + m) b`, built by handing
  `sequential_diff` a baseline whose mean and variance are scaled by (1 + m) — exact for the
  linear contrast, and defined when the baseline mean is 0 (no errors yet), unlike a ratio.
  FAIL when its lower bound is above 0. Shown as the relative change c/b - 1 with its bounds
  mapped the same way, so "lower > +m" on screen is exactly the rule that fired.
* absolute margin a: the CS of `c - b - a`; FAIL when its lower bound is above 0.
* quantiles (p50/p95 latency, ttft): no CS for a difference of quantiles is at hand, so the
  quantile is turned into a proportion. The baseline sample is split in two interleaved halves:
  the first sets the threshold t = baseline quantile, the second is compared with the candidate
  on indicators — baseline: x > t, candidate: x > (1 + m) t (or t + a). If the candidate's
  quantile is within the margin these two rates are equal for a scale change and the CS of
  their difference stays around 0; a slower candidate pushes it up. Using a separate half for
  the threshold keeps the baseline indicator an honest Bernoulli sample (with its own data its
  share above its own p95 would be 5% by construction, with no variance). The threshold is
  re-estimated at each look; the A/A simulation in tests/rollout checks that false alarms stay
  below alpha anyway.

Aggregation: a critical FAIL → ROLLBACK; any other FAIL → PAUSE (a human decides); any
NO_DATA → HOLD ("no data" never counts as success); all PASS → PROCEED.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rampway.rollout.metrics import MetricDef, metric_def
from rampway.rollout.plan import Guardrail
from rampway.rollout.verdicts import (
    Action,
    Evaluation,
    GuardrailResult,
    Verdict,
    aggregate,
)
from rampway.stats import ArmSummary, SequentialInterval, sequential_diff

Sample = Sequence[float] | NDArray[Any]


def _array(sample: Sample) -> NDArray[np.float64]:
    arr = np.asarray(sample, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError("a judge sample must be a one-dimensional array of finite values")
    return arr


def _mean(x: NDArray[np.float64]) -> float:
    return float(x.mean()) if x.size else math.nan


def _quantile(x: NDArray[np.float64], q: float) -> float:
    """numpy's default (linear) quantile via one partition: the judge runs every minute."""
    if not x.size:
        return math.nan
    pos = q * (x.size - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, x.size - 1)
    part = np.partition(x, (lo, hi))
    return float(part[lo] + (part[hi] - part[lo]) * (pos - lo))


def judge(
    baseline: Sample, candidate: Sample, guardrail: Guardrail, *, alpha: float
) -> GuardrailResult:
    """PASS / FAIL / NO_DATA for one guardrail, at confidence-sequence level `alpha`.

    >>> g = Guardrail(metric="error_rate", margin={"relative": 0.2}, min_sample=10)
    >>> judge([0.0] * 500, [1.0] * 100 + [0.0] * 100, g, alpha=0.05).verdict
    <Verdict.FAIL: 'fail'>
    """
    b, c = _array(baseline), _array(candidate)
    definition = metric_def(guardrail.metric)
    if definition.kind == "quantile":
        return _judge_quantile(b, c, guardrail, definition, alpha)
    return _judge_mean(b, c, guardrail, alpha)


def _judge_mean(
    b: NDArray[np.float64], c: NDArray[np.float64], g: Guardrail, alpha: float
) -> GuardrailResult:
    mb, mc = _mean(b), _mean(c)
    rel, ab = g.margin.relative, g.margin.absolute
    up = g.bad == "increase"
    k = 1.0 + (rel or 0.0) * (1 if up else -1)
    s = (ab or 0.0) * (1 if up else -1)
    base = ArmSummary.from_sample(b)
    shifted = ArmSummary(base.n, k * base.mean + s, k * k * base.variance)
    ci = sequential_diff(shifted, ArmSummary.from_sample(c), alpha=alpha)
    if rel is not None and mb != 0 and math.isfinite(mb):
        scale = "relative"
        est = mc / mb - 1
        lo, hi, limit = ci.lower / mb + (k - 1), ci.upper / mb + (k - 1), k - 1
    else:
        scale = "absolute"
        est, lo, hi, limit = mc - mb, ci.lower + s, ci.upper + s, s
    verdict = _verdict(ci, b.size, c.size, g, bad_if=(ci.lower > 0) if up else (ci.upper < 0))
    return GuardrailResult(
        g.metric, g.bad, g.critical, verdict, mb, mc, est, lo, hi, limit, scale,
        int(b.size), int(c.size), g.min_sample, alpha, ci.method,
    )


def _judge_quantile(
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    g: Guardrail,
    definition: MetricDef,
    alpha: float,
) -> GuardrailResult:
    reference, compared = b[0::2], b[1::2]
    threshold = _quantile(reference, definition.q)
    bad_c = _candidate_threshold(threshold, g)
    if g.bad == "increase":
        xb, xc = compared > threshold, c > bad_c
    else:
        xb, xc = compared < threshold, c < bad_c
    ci = sequential_diff(
        ArmSummary.from_sample(xb.astype(np.float64)),
        ArmSummary.from_sample(xc.astype(np.float64)),
        alpha=alpha,
    )
    verdict = _verdict(ci, compared.size, c.size, g, bad_if=ci.lower > 0)
    return GuardrailResult(
        g.metric, g.bad, g.critical, verdict,
        _quantile(b, definition.q), _quantile(c, definition.q),
        ci.estimate, ci.lower, ci.upper, 0.0, "exceedance",
        int(compared.size), int(c.size), g.min_sample, alpha, "exceedance-" + ci.method,
    )


def _candidate_threshold(threshold: float, g: Guardrail) -> float:
    """Where the candidate's values start to count as bad, given the margin."""
    rel, ab = g.margin.relative, g.margin.absolute
    if g.bad == "increase":
        return threshold * (1 + rel) if rel is not None else threshold + (ab or 0.0)
    return threshold * (1 - rel) if rel is not None else threshold - (ab or 0.0)


def _verdict(
    ci: SequentialInterval, n_b: int, n_c: int, g: Guardrail, *, bad_if: bool
) -> Verdict:
    if min(n_b, n_c) < g.min_sample or not ci.informative:
        return Verdict.NO_DATA
    return Verdict.FAIL if bad_if else Verdict.PASS


__all__ = ["Action", "Evaluation", "GuardrailResult", "Verdict", "aggregate", "judge"]
