"""Baseline vs candidate on the same cases: the numbers a gate decides on. Pure.

For each quality metric: the case-weighted mean difference (in points) with a paired t and a
cautious paired CI (the hull of BCa and a kurtosis-adjusted t, `_intervals.cautious_mean`); for
cost per case and latency p50/p95: the relative change (percent) with bootstrap CIs; the cases
that newly fail in every candidate repeat; and a noise floor — how much the metric moves between
two runs of the *same* release, estimated from the baseline's own disagreement between repeats
(real calls, one seed each). The noise floor is display only: the CIs are computed from the per-
case differences, which already carry that repeat noise, so adding it to the decision would
count it twice.

    data = compare(baseline_run, candidate_run, confidence=0.95)
    data.axes["quality"].change, data.axes["quality"].bootstrap   # -2.4, Interval(-3.9, -0.9)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from rampway.errors import ConfigError
from rampway.evals.results import CaseResult, EvalRun
from rampway.gate import _intervals as ci
from rampway.gate.model import (
    COST,
    LATENCY_P50,
    LATENCY_P95,
    AxisEstimate,
    CaseChange,
    GateInput,
    Interval,
)

Array = NDArray[np.float64]
POINTS = 100.0
PERCENT = 100.0


def compare(baseline: EvalRun, candidate: EvalRun, confidence: float = 0.95) -> GateInput:
    """Pair the two runs case by case and estimate every axis."""
    base_cases, cand_cases = baseline.by_case(), candidate.by_case()
    common = [c for c in base_cases if c in cand_cases]
    if not common:
        raise ConfigError("baseline and candidate runs share no cases; use the same suite")
    weights = np.array([candidate.case_weights.get(c, 1.0) for c in common], dtype=float)
    axes: dict[str, AxisEstimate] = {}
    noise: dict[str, float | None] = {}
    for metric in candidate.metric_names:
        estimate, floor = _metric_axis(metric, common, base_cases, cand_cases, weights, confidence)
        if estimate is not None:
            axes[metric] = estimate
            noise[metric] = floor
    axes[COST] = _cost_axis(common, base_cases, cand_cases, confidence)
    for name, q in ((LATENCY_P50, 0.5), (LATENCY_P95, 0.95)):
        axes[name] = _latency_axis(name, q, common, base_cases, cand_cases, confidence)
    failing, passing, flaky = _case_changes(common, base_cases, cand_cases, candidate.critical)
    return GateInput(
        feature=candidate.feature,
        baseline=baseline.release_id,
        candidate=candidate.release_id,
        traffic_class=candidate.traffic_class,
        n_cases=len(common),
        repeats=min(baseline.repeats, candidate.repeats),
        confidence=confidence,
        axes=axes,
        newly_failing=failing,
        newly_passing=passing,
        flaky=flaky,
        noise_floor=noise,
    )


# ---------------------------------------------------------------- quality metrics


def _matrix(
    common: Sequence[str], runs: Mapping[str, list[CaseResult]], metric: str
) -> Array:
    """cases × repeats of a metric; NaN where a repeat has no value (scorer n/a, ragged)."""
    width = max(len(runs[c]) for c in common)
    out = np.full((len(common), width), np.nan)
    for i, case in enumerate(common):
        for j, result in enumerate(runs[case]):
            value = result.metrics.get(metric)
            if value is not None:
                out[i, j] = value
    return out


def _metric_axis(
    metric: str,
    common: Sequence[str],
    base: Mapping[str, list[CaseResult]],
    cand: Mapping[str, list[CaseResult]],
    weights: Array,
    confidence: float,
) -> tuple[AxisEstimate | None, float | None]:
    b_mat, c_mat = _matrix(common, base, metric), _matrix(common, cand, metric)
    b_n, c_n = (~np.isnan(b_mat)).sum(axis=1), (~np.isnan(c_mat)).sum(axis=1)
    keep = (b_n > 0) & (c_n > 0)
    if not keep.any():
        return None, None
    b_mat, c_mat, b_n, c_n, w = b_mat[keep], c_mat[keep], b_n[keep], c_n[keep], weights[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        b_mean, c_mean = np.nanmean(b_mat, axis=1), np.nanmean(c_mat, axis=1)
        b_var, c_var = _row_var(b_mat, b_mean, b_n), _row_var(c_mat, c_mean, c_n)
    n = int(keep.sum())
    diffs = (c_mean - b_mean) * (w * n / w.sum()) * POINTS
    within = float(np.mean(b_var / b_n + c_var / c_n)) * POINTS**2
    total = float(diffs.var(ddof=1)) if n > 1 else 0.0
    estimate = AxisEstimate(
        name=metric,
        kind="quality",
        baseline=float(np.average(b_mean, weights=w)),
        candidate=float(np.average(c_mean, weights=w)),
        change=float(diffs.mean()),
        bootstrap=ci.cautious_mean(diffs, confidence),
        t=ci.paired_t(diffs, confidence),
        n=n,
        within_share=min(1.0, within / total) if total > 0 else 0.0,
    )
    return estimate, _noise_floor(b_var, b_n, confidence)


def _row_var(matrix: Array, mean: Array, count: Array) -> Array:
    """Per-case sample variance over repeats (0 where a case has a single value)."""
    squares = np.nansum((matrix - mean[:, None]) ** 2, axis=1)
    return np.where(count > 1, squares / np.maximum(count - 1, 1), 0.0)


def _noise_floor(b_var: Array, b_n: Array, confidence: float) -> float | None:
    """Half-width (points) of the difference two runs of the baseline itself would show.

    Two independent runs with R repeats differ per case by variance 2·s²/R (s² = the case's
    repeat variance); the mean over n cases has variance 2·mean(s²)/(R·n).
    """
    if b_n.min() < 2:
        return None
    r, n = float(b_n.mean()), b_var.size
    from scipy import stats as sps

    z = float(sps.norm.ppf(0.5 + confidence / 2))
    return z * math.sqrt(2 * float(b_var.mean()) / (r * n)) * POINTS


# ---------------------------------------------------------------- cost and latency


def _cost_axis(
    common: Sequence[str],
    base: Mapping[str, list[CaseResult]],
    cand: Mapping[str, list[CaseResult]],
    confidence: float,
) -> AxisEstimate:
    b = np.array([np.mean([r.cost_usd for r in base[c]]) for c in common])
    c = np.array([np.mean([r.cost_usd for r in cand[c_]]) for c_ in common])
    b_total, c_total = float(b.mean()), float(c.mean())
    if b_total == 0.0:
        change = 0.0 if c_total == 0.0 else math.inf
        interval = Interval(change, change)
        return AxisEstimate(COST, "cost", b_total, c_total, change, interval, interval, len(b))
    boot = ci.ratio_bootstrap(b, c, confidence)
    t = ci.paired_t(c - b, confidence)
    return AxisEstimate(
        name=COST,
        kind="cost",
        baseline=b_total,
        candidate=c_total,
        change=(c_total / b_total - 1.0) * PERCENT,
        bootstrap=Interval(boot.low * PERCENT, boot.high * PERCENT),
        t=Interval(t.low / b_total * PERCENT, t.high / b_total * PERCENT),
        n=len(b),
    )


def _latency_matrix(common: Sequence[str], runs: Mapping[str, list[CaseResult]]) -> Array:
    """cases × repeats of latency; ragged repeats are padded by cycling (rare: errors only)."""
    width = max(len(runs[c]) for c in common)
    rows = []
    for case in common:
        values = [r.latency_s for r in runs[case] if r.error is None] or [math.nan]
        rows.append([values[i % len(values)] for i in range(width)])
    return np.array(rows, dtype=float)


def _latency_axis(
    name: str,
    q: float,
    common: Sequence[str],
    base: Mapping[str, list[CaseResult]],
    cand: Mapping[str, list[CaseResult]],
    confidence: float,
) -> AxisEstimate:
    b, c = _latency_matrix(common, base), _latency_matrix(common, cand)
    bq, cq = float(np.nanquantile(b, q)), float(np.nanquantile(c, q))
    if bq <= 0.0 or math.isnan(bq):
        interval = Interval(0.0, 0.0)
        return AxisEstimate(name, "latency", bq, cq, 0.0, interval, None, len(common))
    boot = ci.quantile_ratio_bootstrap(
        np.nan_to_num(b, nan=bq), np.nan_to_num(c, nan=cq), q, confidence
    )
    return AxisEstimate(
        name=name,
        kind="latency",
        baseline=bq,
        candidate=cq,
        change=(cq / bq - 1.0) * PERCENT,
        bootstrap=Interval(boot.low * PERCENT, boot.high * PERCENT),
        n=len(common),
    )


# ---------------------------------------------------------------- case-level changes


def _pass_rate(results: Sequence[CaseResult]) -> float:
    return sum(r.passed for r in results) / len(results)


def _case_changes(
    common: Sequence[str],
    base: Mapping[str, list[CaseResult]],
    cand: Mapping[str, list[CaseResult]],
    critical: frozenset[str],
) -> tuple[tuple[CaseChange, ...], tuple[str, ...], tuple[str, ...]]:
    """Newly failing = baseline passed in most repeats, candidate failed in every repeat."""
    failing: list[CaseChange] = []
    passing: list[str] = []
    flaky: list[str] = []
    for case in common:
        pb, pc = _pass_rate(base[case]), _pass_rate(cand[case])
        if pb > 0.5 and pc == 0.0:
            failing.append(_change(case, case in critical, pb, pc, base[case], cand[case]))
        elif pb == 0.0 and pc > 0.5:
            passing.append(case)
        elif 0.0 < pc < 1.0:
            flaky.append(case)
    failing.sort(key=lambda c: (not c.critical, c.case_id))
    return tuple(failing), tuple(passing), tuple(flaky)


def _change(
    case: str,
    critical: bool,
    pb: float,
    pc: float,
    base: Sequence[CaseResult],
    cand: Sequence[CaseResult],
) -> CaseChange:
    shown = cand[0]
    failed = tuple(sorted(n for n, s in shown.scores.items() if not s.passed))
    details = tuple(f"{n}: {shown.scores[n].detail}" for n in failed if shown.scores[n].detail)
    if shown.error:
        details = (shown.error, *details)
    good = next((r for r in base if r.passed), base[0])
    return CaseChange(
        case_id=case,
        critical=critical,
        baseline_pass_rate=pb,
        candidate_pass_rate=pc,
        baseline_output=good.output,
        candidate_output=shown.output,
        failed_scorers=failed,
        details=details,
    )


__all__ = ["compare"]
