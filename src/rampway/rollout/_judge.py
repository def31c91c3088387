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

Sample ratio mismatch (`judge_srm`): Pearson's chi-square (`rampway.stats.srm_test`) of the
units each arm saw in the step's window against the split the step's weight promises —
units, not requests, because assignment is per unit: the weight is a share of units, and a
unit's requests are not independent draws (one busy user in the candidate arm would shift
the request counts with nothing broken, and a request-level test would cry wolf). Requests
without a unit are assigned per request, so each counts as one unit.

The chi-square is a fixed-horizon test, and the controller looks every minute: tested at
p < 0.001 at every look, a healthy step would be paused about 1% of the time over an hour of
looks and 2% over six (A/A simulation), not 0.1%. So the plan's threshold applies at the look
that decides the step — the one that would advance it (dwell elapsed, every guardrail PASS) —
and the other looks only act on overwhelming evidence, p < threshold x 1e-3 (Haybittle-Peto's
interim boundary): a grossly broken split still pauses early, and a healthy step is paused
with probability about `threshold` (tests/rollout measures both). Units are counted from
`SRM_SETTLE_SECONDS` after the step began: gateways and SDKs pick a new weight up within their
reload interval (~0.5 s by default), and requests served at the old weight in those first
moments would be a mismatch of the check's own making — a dwell-0 step looked at 0.2 s
later saw a third of its units at the old split. Fewer than
`SRM_MIN_EXPECTED` expected units in either arm is NO_DATA: the chi-square approximation is
poor there (exactly, at a 1% split: p < 0.001 fires 0.19% of the time with 5 expected units,
0.15% with 10, 0.10% with 50), and 10 units is far less data than any guardrail needs anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rampway.assign import BUCKETS
from rampway.rollout.metrics import MetricDef, metric_def
from rampway.rollout.plan import Guardrail, SampleRatioCheck
from rampway.rollout.verdicts import (
    Action,
    Evaluation,
    GuardrailResult,
    SampleRatio,
    Verdict,
    aggregate,
)
from rampway.stats import ArmSummary, SequentialInterval, sequential_diff, srm_test

SRM_MIN_EXPECTED = 10.0
SRM_INTERIM_FACTOR = 1e-3
SRM_SETTLE_SECONDS = 10.0

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


def judge_srm(
    baseline: int, candidate: int, weight_bp: int, check: SampleRatioCheck, *, decisive: bool
) -> SampleRatio | None:
    """Are `baseline`/`candidate` units plausible under a candidate weight of `weight_bp`?

    None when the check is off or the step has no split (0% or 100%). `decisive`: this look
    would advance the step, so the plan's threshold applies; otherwise the interim one.

    >>> check = SampleRatioCheck()
    >>> judge_srm(9500, 1000, 500, check, decisive=True).verdict   # 2x its 5% share
    <Verdict.FAIL: 'fail'>
    >>> judge_srm(9480, 520, 500, check, decisive=True).verdict
    <Verdict.PASS: 'pass'>
    """
    if not check.enabled or not 0 < weight_bp < BUCKETS:
        return None
    share = weight_bp / BUCKETS
    threshold = check.threshold if decisive else check.threshold * SRM_INTERIM_FACTOR
    total = baseline + candidate
    expected = (total * (1 - share), total * share)
    if min(expected) < SRM_MIN_EXPECTED:
        return SampleRatio(Verdict.NO_DATA, "units", baseline, candidate, *expected, share,
                           math.nan, math.nan, threshold, decisive, SRM_MIN_EXPECTED)
    test = srm_test([baseline, candidate], [1 - share, share], threshold=threshold)
    verdict = Verdict.FAIL if test.mismatch else Verdict.PASS
    return SampleRatio(verdict, "units", baseline, candidate, expected[0], expected[1], share,
                       test.statistic, test.p_value, threshold, decisive, SRM_MIN_EXPECTED)


__all__ = [
    "SRM_INTERIM_FACTOR",
    "SRM_MIN_EXPECTED",
    "SRM_SETTLE_SECONDS",
    "Action",
    "Evaluation",
    "GuardrailResult",
    "SampleRatio",
    "Verdict",
    "aggregate",
    "judge",
    "judge_srm",
]
