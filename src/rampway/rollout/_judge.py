"""The rollout judge: pure functions from (baseline sample, candidate sample, guardrail) to a
verdict, and from all verdicts to one decision. No I/O, no clock.

Arms are compared over *units*, not requests: assignment is per unit, and one user's requests
are alike (same conversations, language, length), so their errors and latencies move
together. Each unit's observations are summed to (sum, count) and the per-request rate or mean
is judged as a ratio metric with the delta method's variance over units (`rampway.stats.
ratio_summary`; Deng et al., KDD 2018) — what the experiment analysis does too. Judged per
request instead, an A/A rollout on users of ~20 requests with ICC 1/6 alarmed 4.4% of the time
at a 0.42% budget; over units it stays under the budget (tests/rollout/
test_rollout_clustered.py; figures in `bench/judge_power.py`). Requests without a unit count
as their own unit. Fewer than `MIN_UNITS` units in an arm is NO_DATA.

Each guardrail is tested with an always-valid confidence sequence (`rampway.stats.
sequential_diff`, over units), so the controller may look every minute without inflating
false alarms. One decision rule, the eval gate's too:

    NO_DATA       fewer than `min_sample` observations or `MIN_UNITS` units in an arm
    FAIL          the interval lies wholly beyond the margin on the bad side
    PASS          the interval lies wholly on the good side of the margin (harm beyond the
                  margin is excluded) — "not proven worse" is not a pass
    INCONCLUSIVE  otherwise: the step holds, and pauses for a human after its max dwell

How "worse by more than the margin" is tested, for bad = increase (decrease mirrors it):

* rates and means, relative margin m: the CS of the contrast `c - (1 + m) b`, built by handing
  `sequential_diff` a baseline whose mean and variance are scaled by (1 + m) — exact for the
  linear contrast, and defined when the baseline mean is 0 (no errors yet), unlike a ratio.
  Shown as the relative change c/b - 1 with its bounds mapped the same way, so "lower > +m"
  on screen is exactly the rule that fired.
* absolute margin a: the CS of `c - b - a`.
* quantiles (p50/p95 latency, ttft): no CS for a difference of quantiles is at hand, so the
  quantile is turned into a proportion. The threshold t is the baseline's quantile; each
  request is an indicator — baseline: x > t, candidate: x > (1 + m) t (or t + a) — and the
  shares of indicators are compared over units like any rate. If the candidate's quantile is
  within the margin its share is at most the baseline's; a slower candidate pushes it up. The
  baseline's own share is ~q by construction, but the threshold's sampling error moves the
  candidate's share by as much as the baseline share's variance says (Bahadur's
  representation), so the usual variance stays right; the A/A simulations check it.

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

from rampway._decision import harm_verdict
from rampway.assign import BUCKETS
from rampway.rollout.metrics import metric_def
from rampway.rollout.observations import Observations, Totals, UnitTotals, as_observations
from rampway.rollout.plan import Guardrail, SampleRatioCheck
from rampway.rollout.verdicts import (
    Action,
    Evaluation,
    GuardrailResult,
    SampleRatio,
    Verdict,
    aggregate,
)
from rampway.stats import (
    ArmSummary,
    SequentialInterval,
    sequential_diff,
    srm_test,
)

SRM_MIN_EXPECTED = 10.0
SRM_INTERIM_FACTOR = 1e-3
SRM_SETTLE_SECONDS = 10.0
#: Fewer units than this in either arm is NO_DATA: the delta method's normal approximation
#: over a handful of clusters is too optimistic to act on (the A/A simulations in
#: tests/rollout/test_rollout_clustered.py hold alpha from here on).
MIN_UNITS = 10

Sample = Observations | Sequence[float] | NDArray[Any]


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
    """PASS / FAIL / INCONCLUSIVE / NO_DATA for one guardrail, at confidence-sequence level
    `alpha`. Samples are `Observations` (values with their units) or plain sequences (each
    value its own unit).

    >>> g = Guardrail(metric="error_rate", margin={"relative": 0.2}, min_sample=10)
    >>> judge([0.0] * 500, [1.0] * 100 + [0.0] * 100, g, alpha=0.05).verdict
    <Verdict.FAIL: 'fail'>
    """
    b, c = as_observations(baseline), as_observations(candidate)
    definition = metric_def(guardrail.metric)
    if definition.kind != "quantile":
        return judge_totals(b.totals(), c.totals(), guardrail, alpha=alpha)
    threshold = _quantile(b.values, definition.q)
    bad_c = candidate_threshold(threshold, guardrail)
    if guardrail.bad == "increase":
        xb, xc = b.values > threshold, c.values > bad_c
    else:
        xb, xc = b.values < threshold, c.values < bad_c
    return judge_totals(
        b.totals(xb.astype(np.float64)), c.totals(xc.astype(np.float64)), guardrail,
        alpha=alpha, quantiles=(threshold, _quantile(c.values, definition.q)),
    )


def judge_totals(
    baseline: Totals, candidate: Totals, guardrail: Guardrail, *, alpha: float,
    quantiles: tuple[float, float] | None = None,
) -> GuardrailResult:
    """`judge` on per-unit totals, e.g. computed by the database (`rampway.rollout.totals`),
    or on their moments (`UnitMoments`, e.g. from the roll-up, `rampway.rollout.rollup`).

    For rates and means the totals are the metric's values; for quantile metrics they count
    each unit's requests beyond the threshold (baseline: its own quantile, `quantiles[0]`;
    candidate: that threshold with the margin applied, `candidate_threshold`), and
    `quantiles` are the two arms' quantiles, for display.
    """
    definition = metric_def(guardrail.metric)
    if definition.kind == "quantile":
        shown = quantiles if quantiles is not None else (math.nan, math.nan)
        return _judge_exceedance(baseline, candidate, guardrail, alpha, shown)
    return _judge_mean(baseline, candidate, guardrail, alpha)


def _judge_mean(b: Totals, c: Totals, g: Guardrail, alpha: float) -> GuardrailResult:
    base, cand = b.summary(), c.summary()
    mb, mc = b.mean, c.mean
    rel, ab = g.margin.relative, g.margin.absolute
    up = g.bad == "increase"
    k = 1.0 + (rel or 0.0) * (1 if up else -1)
    s = (ab or 0.0) * (1 if up else -1)
    shifted = ArmSummary(base.n, k * base.mean + s, k * k * base.variance)
    ci = sequential_diff(shifted, cand, alpha=alpha)
    if rel is not None and mb != 0 and math.isfinite(mb):
        scale = "relative"
        est = mc / mb - 1
        lo, hi, limit = ci.lower / mb + (k - 1), ci.upper / mb + (k - 1), k - 1
    else:
        scale = "absolute"
        est, lo, hi, limit = mc - mb, ci.lower + s, ci.upper + s, s
    verdict = _verdict(ci, b, c, g, bad_up=up)
    return GuardrailResult(
        g.metric, g.bad, g.critical, verdict, mb, mc, est, lo, hi, limit, scale,
        b.observations, c.observations, g.min_sample, alpha, "unit-delta-" + ci.method,
        b.units, c.units,
    )


def _judge_exceedance(
    b: Totals, c: Totals, g: Guardrail, alpha: float, quantiles: tuple[float, float],
) -> GuardrailResult:
    ci = sequential_diff(b.summary(), c.summary(), alpha=alpha)
    # the indicators point at the bad side in both directions: harm is a positive difference
    verdict = _verdict(ci, b, c, g, bad_up=True)
    return GuardrailResult(
        g.metric, g.bad, g.critical, verdict, quantiles[0], quantiles[1],
        ci.estimate, ci.lower, ci.upper, 0.0, "exceedance",
        b.observations, c.observations, g.min_sample, alpha, "unit-exceedance-" + ci.method,
        b.units, c.units,
    )


def candidate_threshold(threshold: float, g: Guardrail) -> float:
    """Where the candidate's values start to count as bad, given the margin."""
    rel, ab = g.margin.relative, g.margin.absolute
    if g.bad == "increase":
        return threshold * (1 + rel) if rel is not None else threshold + (ab or 0.0)
    return threshold * (1 - rel) if rel is not None else threshold - (ab or 0.0)


def _verdict(
    ci: SequentialInterval, b: Totals, c: Totals, g: Guardrail, *, bad_up: bool
) -> Verdict:
    """The one decision rule (shared with the eval gate), on the contrast that is positive
    when the candidate is worse than the margin allows (`bad_up`; negative otherwise): FAIL
    when the interval lies wholly beyond the margin, PASS when it excludes that side,
    INCONCLUSIVE otherwise. Too little data — observations or units — is NO_DATA."""
    if min(b.observations, c.observations) < g.min_sample or min(b.units, c.units) < MIN_UNITS:
        return Verdict.NO_DATA
    if not ci.informative:
        return Verdict.NO_DATA
    side = 1.0 if bad_up else -1.0
    lower, upper = sorted((ci.lower * side, ci.upper * side))
    return Verdict(harm_verdict(lower, upper))


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
    "MIN_UNITS",
    "SRM_INTERIM_FACTOR",
    "SRM_MIN_EXPECTED",
    "SRM_SETTLE_SECONDS",
    "Action",
    "Evaluation",
    "GuardrailResult",
    "Observations",
    "SampleRatio",
    "UnitTotals",
    "Verdict",
    "aggregate",
    "candidate_threshold",
    "judge",
    "judge_srm",
    "judge_totals",
]
