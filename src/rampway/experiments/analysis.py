"""A/B experiment analysis: every treatment arm against the control, on every metric.

    report = analyze(store, record)            # reads the event log, then `evaluate`
    report = evaluate(record, extraction, until=now)   # pure: per-unit arrays in, report out
    result = compare(metric_def("error_rate"), control, treatment, alpha=0.05, good="decrease")

Per metric and treatment arm (`compare`), over units (see `rampway.experiments.metrics`):

    kind        fixed-horizon interval              always-valid interval (decides)
    proportion  Newcombe (Wilson) difference        asymptotic CS of the difference
    mean        Welch t                             asymptotic CS of the difference
    ratio       delta method over units (z)         asymptotic CS, delta-method variance
    quantile    Woodruff over units (normal)        asymptotic CS, Woodruff standard error

and the relative change (treatment / control - 1) by the delta method, both fixed-horizon and
always-valid (quantiles: Woodruff's standard error reads the p95's uncertainty off the share of
requests below it, over units — within ~5% of a 2,000-resample unit-cluster bootstrap at a
hundredth of its cost, and computable by a database; see `rampway.stats._units`); an always-
valid interval narrower than the fixed-horizon one (a rate near 0) is widened to it. The verdict
reads the always-valid interval of the difference, because people look at dashboards every hour
and a fixed-horizon interval looked at that often finds "effects" in A/A tests (the A/A
simulation in tests/experiments measures both): an interval above zero is an increase, below a
decrease, better or worse by the metric's good direction; one that crosses zero is "no
detectable difference"; fewer than `min_units` units in an arm (or an unbounded interval) is
"not enough data" — never a success.

What decides is what is shown: the report's table and plot and the explanation quote that
interval of the difference (the lift beside it as an estimate only). The relative intervals are
a different interval that can cross zero where the difference's does not — a small control
rate makes the delta-method lift interval wide and symmetric (19/113 vs 75/108: difference
[+0.25, +0.80], lift [-132%, +758%]) — so they stay in the JSON for information and are never
presented as the verdict's (see `rampway.experiments.report`).

Which direction is good: a guardrail's is the opposite of its `bad`; any other metric's is the
definition's `better:` entry for it if there is one, else the metric's natural one (`GOOD`:
more conversion, retention, feedback and requests per unit; fewer errors, refusals, less
latency, cost and output tokens), or its guardrail's when it is one too.

Several treatment arms share alpha by Bonferroni (alpha / treatments per comparison, for the
fixed-horizon level too); there is no correction across metrics: the primary metric decides,
guardrails only block, secondary metrics inform.

Sample ratio mismatch: a chi-square of exposed units per arm against the arms' weights; p below
`SRM_THRESHOLD` (0.001) means assignment or logging is broken and every comparison is suspect:
a loud warning, and the decision is "don't ship". Fewer than `SRM_MIN_EXPECTED` expected units
in an arm is not tested (the approximation is poor and nothing else could be concluded yet).

The decision (`decide`), in order:

    don't ship      sample ratio mismatch; or every treatment arm has a guardrail worse (an
                    always-valid interval may stop an experiment early for harm)
    keep running    runtime < min_runtime ("too early"), whatever the intervals say
    ship <arm>      the primary is better and no guardrail worse or lacking data (if several
                    arms qualify: the largest relative improvement on the primary)
    don't ship      some arm's guardrail is worse, or the primary is worse in every arm
    keep running    the primary (or a guardrail) has not enough data yet
    no detectable difference
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rampway.experiments import metrics as m
from rampway.experiments._duration import duration_text
from rampway.experiments.extract import ArmUnits, Extraction, load_rollup_units, load_units
from rampway.experiments.metrics import MetricDef, metric_def
from rampway.experiments.model import ExperimentRecord
from rampway.experiments.report import (
    ArmCounts,
    Decision,
    Direction,
    ExperimentReport,
    MetricResult,
    Role,
    SampleRatioCheck,
    Verdict,
    change_text,
)
from rampway.stats import (
    ArmSummary,
    Interval,
    SequentialInterval,
    proportion_diff_ci,
    ratio_summary,
    relative_difference,
    sequential_diff,
    sequential_from_se,
    sequential_relative_difference,
    srm_test,
    summary_diff_ci,
    welch_ci,
)
from rampway.stats._units import clustered_quantile, compare_quantiles
from rampway.store import Store

if TYPE_CHECKING:
    from rampway.events.clickhouse.store import ClickHouseEvents

Array = NDArray[np.float64]
DEFAULT_MIN_UNITS = 50
SRM_THRESHOLD = 0.001
SRM_MIN_EXPECTED = 10.0

#: The good direction of each metric that isn't a guardrail (prefix forms by their prefix).
GOOD: dict[str, Direction] = {
    m.CONVERSION_PREFIX: "increase",
    m.FEEDBACK_PREFIX: "increase",
    m.RETENTION_PREFIX: "increase",
    "requests_per_unit": "increase",
    "error_rate": "decrease",
    "refusal_rate": "decrease",
    "latency_ms": "decrease",
    "latency_p95": "decrease",
    "cost_per_request": "decrease",
    "output_tokens": "decrease",
    "cost_per_unit": "decrease",
}


@dataclass(frozen=True, slots=True)
class UnitSample:
    """One arm's observations of one metric, as the statistics read them.

    proportion, mean: `values` has one number per unit (0/1 for a proportion).
    ratio: `values` the per-unit numerators, `denominators` the per-unit denominators.
    quantile: `values` one number per request, `clusters` its unit's label — or, computed by
    the database, `quantile` = (the quantile, its standard error over units, units).
    """

    values: Array
    denominators: Array | None = None
    clusters: NDArray[Any] | None = None
    quantile: tuple[float, float, int] | None = None


def good_direction(metric: str, record: ExperimentRecord | None = None) -> Direction:
    """Which change of `metric` is an improvement (see the module docstring)."""
    if record is not None:
        for g in record.guardrails:
            if g.metric == metric:
                return "decrease" if g.bad == "increase" else "increase"
        if metric in record.better:
            return record.better[metric]
    for key, direction in GOOD.items():
        if metric == key or (key.endswith(":") and metric.startswith(key)):
            return direction
    return "increase"


# ------------------------------------------------------------------- per metric, per arm


@dataclass(frozen=True, slots=True)
class _Stats:
    control_mean: float
    treatment_mean: float
    n: tuple[int, int]
    absolute: Interval
    relative: Interval
    sequential: SequentialInterval
    sequential_relative: SequentialInterval


def _summary_stats(
    a: ArmSummary, b: ArmSummary, absolute: Interval, alpha: float
) -> _Stats:
    level = 1 - alpha
    return _Stats(
        a.mean, b.mean, (a.n, b.n), absolute, relative_difference(a, b, level),
        sequential_diff(a, b, alpha=alpha), sequential_relative_difference(a, b, alpha=alpha),
    )


def _proportion(control: UnitSample, treatment: UnitSample, alpha: float) -> _Stats:
    sa, na = int(control.values.sum()), int(control.values.size)
    sb, nb = int(treatment.values.sum()), int(treatment.values.size)
    absolute = proportion_diff_ci(sa, na, sb, nb, level=1 - alpha)
    return _summary_stats(ArmSummary.from_proportion(sa, na), ArmSummary.from_proportion(sb, nb),
                          absolute, alpha)


def _mean(control: UnitSample, treatment: UnitSample, alpha: float) -> _Stats:
    absolute = welch_ci(control.values, treatment.values, level=1 - alpha)
    return _summary_stats(ArmSummary.from_sample(control.values),
                          ArmSummary.from_sample(treatment.values), absolute, alpha)


def _ratio(control: UnitSample, treatment: UnitSample, alpha: float) -> _Stats:
    def summary(s: UnitSample) -> ArmSummary:
        den = s.denominators if s.denominators is not None else np.ones_like(s.values)
        return ratio_summary(s.values, den)

    a, b = summary(control), summary(treatment)
    stats = _summary_stats(a, b, summary_diff_ci(a, b, level=1 - alpha), alpha)
    return replace(stats, n=(_observed(control), _observed(treatment)))


def _observed(s: UnitSample) -> int:
    """Units that contribute to a ratio (a denominator > 0: e.g. gave any feedback)."""
    if s.denominators is None:
        return int(s.values.size)
    return int(np.count_nonzero(s.denominators > 0))


def _quantile(control: UnitSample, treatment: UnitSample, q: float, alpha: float) -> _Stats:
    def summary(s: UnitSample) -> tuple[float, float, int]:
        if s.quantile is not None:
            return s.quantile
        labels = s.clusters if s.clusters is not None else np.arange(s.values.size)
        return clustered_quantile(s.values, labels, q)

    (qa, sa, ka), (qb, sb, kb) = summary(control), summary(treatment)
    c = compare_quantiles((qa, sa, ka), (qb, sb, kb), q, level=1 - alpha)
    r = c.ratio
    relative = Interval(r.estimate - 1, r.lower - 1, r.upper - 1, r.level, r.method, r.n)
    na, nb = c.difference.n

    def always_valid(estimate: float, se: float) -> SequentialInterval:
        return sequential_from_se(estimate, se, na, nb, alpha=alpha, method="woodruff-se-cs")

    return _Stats(qa, qb, (na, nb), c.difference, relative,
                  always_valid(c.difference.estimate, c.difference_se),
                  always_valid(relative.estimate, c.ratio_se))


def _verdict(stats: _Stats, good: Direction, min_units: int) -> Verdict:
    seq = stats.sequential
    if min(stats.n) < min_units or not seq.informative:
        return Verdict.NOT_ENOUGH_DATA
    if seq.lower > 0:
        moved: Direction | None = "increase"
    elif seq.upper < 0:
        moved = "decrease"
    else:
        return Verdict.NO_DIFFERENCE
    return Verdict.BETTER if moved == good else Verdict.WORSE


def compare(
    definition: MetricDef,
    control: UnitSample,
    treatment: UnitSample,
    *,
    alpha: float,
    good: Direction,
    role: Role = "primary",
    arm: str = "treatment",
    min_units: int = DEFAULT_MIN_UNITS,
) -> MetricResult:
    """One metric, one treatment arm vs the control: both intervals and the verdict.

    `alpha` is the (already Bonferroni-adjusted) level of both intervals: the fixed-horizon one
    is a (1 - alpha) interval, the always-valid one holds with probability 1 - alpha over all
    looks. Pure: plain arrays in, no I/O.
    """
    if definition.kind == "proportion":
        stats = _proportion(control, treatment, alpha)
    elif definition.kind == "mean":
        stats = _mean(control, treatment, alpha)
    elif definition.kind == "ratio":
        stats = _ratio(control, treatment, alpha)
    else:
        stats = _quantile(control, treatment, definition.q or 0.5, alpha)
    stats = replace(stats, sequential=_hull(stats.sequential, stats.absolute),
                    sequential_relative=_hull(stats.sequential_relative, stats.relative))
    return MetricResult(
        definition.name, definition.kind, role, arm, good, stats.control_mean,
        stats.treatment_mean, stats.n[0], stats.n[1], stats.absolute, stats.relative,
        stats.sequential, stats.sequential_relative, _verdict(stats, good, min_units),
    )


def _hull(valid: SequentialInterval, fixed: Interval) -> SequentialInterval:
    """The always-valid interval, widened to cover the fixed-horizon one where it is narrower.

    Widening keeps a confidence sequence valid (coverage only grows), and an interval that
    claims to survive any number of looks should never be tighter than the one for a single
    look. It can be, for a rate near 0 or 1: the asymptotic CS plugs in the variance p(1 - p),
    which vanishes there, while Newcombe's score interval does not.
    """
    if not (valid.informative and fixed.informative):
        return valid
    lower, upper = min(valid.lower, fixed.lower), max(valid.upper, fixed.upper)
    if (lower, upper) == (valid.lower, valid.upper):
        return valid
    return replace(valid, lower=lower, upper=upper)


def unit_sample(definition: MetricDef, arm: ArmUnits, until: float) -> UnitSample:
    """The per-unit (or, for a quantile, per-request) observations of one arm."""
    if definition.kind == "quantile":
        computed = arm.quantiles.get(definition.q or 0.5)
        return UnitSample(arm.latency, clusters=arm.latency_units, quantile=computed)
    if definition.days is not None:  # retention: units exposed at least N days before `until`
        horizon = definition.days * m.DAY_S
        first, last = arm.column(m.FIRST_TS), arm.column(m.LAST_TS)
        old_enough = first <= until - horizon
        came_back = (last - first >= horizon)[old_enough]
        return UnitSample(came_back.astype(np.float64))
    values = arm.column(definition.numerator)
    if definition.kind == "proportion":
        values = (values > 0).astype(np.float64)
    if definition.kind == "ratio" and definition.denominator is not None:
        return UnitSample(values, arm.column(definition.denominator))
    return UnitSample(values)


# ------------------------------------------------------------------- the experiment


def check_srm(units: Sequence[int], weights_bp: Sequence[int]) -> SampleRatioCheck:
    """Exposed units per arm against the weights; not tested below SRM_MIN_EXPECTED."""
    total = sum(units)
    expected = tuple(total * w / sum(weights_bp) for w in weights_bp)
    if min(expected) < SRM_MIN_EXPECTED:
        return SampleRatioCheck(tuple(units), expected, math.nan, SRM_THRESHOLD, False, False)
    test = srm_test(list(units), list(weights_bp), threshold=SRM_THRESHOLD)
    return SampleRatioCheck(tuple(units), expected, test.p_value, SRM_THRESHOLD,
                            test.mismatch, True)


def _roles(record: ExperimentRecord) -> list[tuple[str, Role, Direction]]:
    """(metric, role, good direction): the primary, the secondary metrics, the guardrails."""
    out: list[tuple[str, Role, Direction]] = [
        (record.primary, "primary", good_direction(record.primary, record))]
    out += [(s, "secondary", good_direction(s, record)) for s in record.secondary
            if s != record.primary]
    out += [(g.metric, "guardrail", "decrease" if g.bad == "increase" else "increase")
            for g in record.guardrails]
    return out


def evaluate(
    record: ExperimentRecord,
    extraction: Extraction,
    *,
    until: float,
    min_units: int = DEFAULT_MIN_UNITS,
) -> ExperimentReport:
    """The report from already extracted per-unit data (pure: no I/O, no clock)."""
    treatments = record.arms[1:]
    alpha = record.alpha / max(len(treatments), 1)
    control = extraction.arm(record.control.name)
    results: list[MetricResult] = []
    for name, role, good in _roles(record):
        definition = metric_def(name)
        base = unit_sample(definition, control, until)
        results.extend(compare(
            definition, base, unit_sample(definition, extraction.arm(arm.name), until),
            alpha=alpha, good=good, role=role, arm=arm.name, min_units=min_units,
        ) for arm in treatments)
    counts = tuple(ArmCounts(a.name, a.release_id, a.weight_bp, extraction.arm(a.name).units,
                             extraction.arm(a.name).requests) for a in record.arms)
    srm = check_srm([c.units for c in counts], [a.weight_bp for a in record.arms])
    runtime = max(0.0, until - record.started_at)
    decision, ship, why = decide(record, results, srm, runtime)
    warnings = _warnings(srm, extraction)
    correction = (f"Bonferroni across {len(treatments)} treatment arms: alpha "
                  f"{alpha:.4g} per comparison" if len(treatments) > 1
                  else "one treatment arm: no multiple-comparison correction")
    return ExperimentReport(
        record.name, record.id, record.feature, record.status, record.unit, record.started_at,
        until, runtime, record.min_runtime_s, record.alpha, alpha, correction, counts,
        extraction.multiple_exposures, extraction.multiple_exposure_requests, srm,
        tuple(results), decision, ship, why, warnings,
    )


def _warnings(srm: SampleRatioCheck, extraction: Extraction) -> tuple[str, ...]:
    out = []
    if srm.mismatch:
        observed = ", ".join(f"{a.arm} {n}" for a, n in zip(extraction.arms, srm.observed,
                                                            strict=True))
        expected = ", ".join(f"{e:.0f}" for e in srm.expected)
        out.append(
            f"SAMPLE RATIO MISMATCH (p = {srm.p_value:.2g} < {srm.threshold:g}): exposed units "
            f"{observed} vs expected {expected}. Assignment or event logging is broken; these "
            "results are NOT trustworthy."
        )
    units = sum(a.units for a in extraction.arms) + extraction.multiple_exposures
    if units and extraction.multiple_exposures / units > 0.01:
        out.append(f"{extraction.multiple_exposures} of {units} units "
                   f"({extraction.multiple_exposures / units:.1%}) were seen in several arms "
                   "and are excluded; is the unit id stable?")
    return tuple(out)


def _lift(r: MetricResult) -> float:
    """The primary's relative improvement in its good direction (for choosing among arms)."""
    est = r.relative.estimate if math.isfinite(r.relative.estimate) else r.absolute.estimate
    return est if r.good == "increase" else -est


def decide(
    record: ExperimentRecord,
    results: Sequence[MetricResult],
    srm: SampleRatioCheck,
    runtime_s: float,
) -> tuple[Decision, str | None, str]:
    """(decision, arm to ship or None, one sentence why) — see the module docstring."""
    primary = record.primary
    arms = [a.name for a in record.arms[1:]]
    by_arm = {arm: [r for r in results if r.arm == arm] for arm in arms}
    worse_guard = {arm: [r.metric for r in rs if r.role == "guardrail"
                         and r.verdict is Verdict.WORSE] for arm, rs in by_arm.items()}
    unknown_guard = {arm: [r.metric for r in rs if r.role == "guardrail"
                           and r.verdict is Verdict.NOT_ENOUGH_DATA] for arm, rs in by_arm.items()}
    prim = {arm: next(r for r in rs if r.metric == primary and r.role == "primary")
            for arm, rs in by_arm.items()}
    if srm.mismatch:
        return (Decision.DONT_SHIP, None, f"sample ratio mismatch (p = {srm.p_value:.2g}): "
                "the split of units does not match the weights, so no result can be trusted")
    if all(worse_guard.values()):
        return (Decision.DONT_SHIP, None, _guardrail_worse(by_arm[arms[0]], _which(arms)))
    if runtime_s < record.min_runtime_s:
        return (Decision.KEEP_RUNNING, None, f"too early: ran {duration_text(runtime_s)} of the "
                f"{duration_text(record.min_runtime_s)} minimum runtime")
    winners = [arm for arm in arms if prim[arm].verdict is Verdict.BETTER
               and not worse_guard[arm] and not unknown_guard[arm]]
    if winners:
        best = max(winners, key=lambda a: _lift(prim[a]))
        return (Decision.SHIP, best, f"{primary} is better in {best} ({change_text(prim[best])}) "
                "and no guardrail is worse")
    for arm in arms:
        if worse_guard[arm]:
            return (Decision.DONT_SHIP, None,
                    _guardrail_worse(by_arm[arm], arm) + _and_primary(prim[arm]))
    if all(prim[a].verdict is Verdict.WORSE for a in arms):
        return (Decision.DONT_SHIP, None, f"{primary} is worse in {_which(arms)}")
    waiting = [a for a in arms if prim[a].verdict is Verdict.NOT_ENOUGH_DATA]
    if waiting:
        return (Decision.KEEP_RUNNING, None, f"not enough data yet on {primary} in "
                f"{_which(waiting)}")
    guard_waiting = [a for a in arms if prim[a].verdict is Verdict.BETTER and unknown_guard[a]]
    if guard_waiting:
        arm = guard_waiting[0]
        return (Decision.KEEP_RUNNING, None, f"{primary} is better in {arm} but guardrail "
                f"{unknown_guard[arm][0]} has not enough data yet")
    return (Decision.NO_DIFFERENCE, None, f"no detectable difference on {primary} after "
            f"{duration_text(runtime_s)}; keep running for more power or stop")


def _guardrail_worse(results: Sequence[MetricResult], where: str) -> str:
    r = next(r for r in results if r.role == "guardrail" and r.verdict is Verdict.WORSE)
    return f"guardrail {r.metric} is worse in {where} ({change_text(r)})"


def _which(arms: Sequence[str]) -> str:
    return arms[0] if len(arms) == 1 else "every treatment arm"


def _and_primary(r: MetricResult) -> str:
    if r.verdict is Verdict.BETTER:
        return f", although {r.metric} is better"
    return ""


def analyze(
    store: Store | ClickHouseEvents,
    record: ExperimentRecord,
    *,
    now: float | None = None,
    min_units: int = DEFAULT_MIN_UNITS,
    rollup: bool = True,
) -> ExperimentReport:
    """Read the experiment's window from the event log and analyse it, per unit of the
    experiment's `unit:` (users, or sessions for `unit: session`).

    From its roll-up (`rampway.experiments.rollup`: a row per unit, latency histograms for the
    quantiles, feedback joined to its units) when the roll-up holds the window (`rollup=False`:
    never), else from the
    requests; the report's `source` says which, and why not the roll-up. Preparing the
    roll-up may write: it opens the segment of a running experiment that has none, and merges
    its first seconds once they are over.

    The window is `[started_at, stopped_at]`, or up to `now` (default: the clock) while
    running; an earlier `now` analyses the experiment as it stood then. `store` is where the
    events are: the store, or ClickHouse (`rampway.events.clickhouse.open_events`).
    """
    now = time.time() if now is None else now
    until = now if record.stopped_at is None else min(now, record.stopped_at)
    defs = [metric_def(name) for name, _, _ in _roles(record)]
    extraction, why = None, ""
    if not isinstance(store, Store):
        source = "clickhouse"
    elif rollup:
        from rampway.experiments import rollup as rolled

        source = "events"
        rolled.prepare(store, record)
        extraction, why = load_rollup_units(
            store, experiment_id=record.id, arms=record.arms, since=record.started_at,
            until=until, unit=record.unit, feedback=m.feedback_names(defs),
            quantiles=_quantiles(defs))
    else:
        source, why = "events", "the roll-up was not asked for"
    if extraction is None:
        extraction = load_units(
            store, feature=record.feature, arms=record.arms, since=record.started_at,
            until=until, feedback=m.feedback_names(defs),
            quantiles=_quantiles(defs),
            unit=record.unit,
        )
    else:
        source = "rollup"
    report = evaluate(record, extraction, until=until, min_units=min_units)
    return replace(report, source=source, source_why=why)


def _quantiles(defs: Sequence[MetricDef]) -> list[float]:
    return sorted({d.q or 0.5 for d in defs if d.kind == "quantile"})


__all__ = [
    "DEFAULT_MIN_UNITS",
    "GOOD",
    "SRM_MIN_EXPECTED",
    "SRM_THRESHOLD",
    "UnitSample",
    "analyze",
    "check_srm",
    "compare",
    "decide",
    "evaluate",
    "good_direction",
    "unit_sample",
]
