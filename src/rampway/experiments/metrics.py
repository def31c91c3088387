"""The metrics an experiment can read, and what each one is per unit.

The analysis unit is the *unit* (user or session), as in GrowthBook: a unit is exposed at its
first request of the experiment's window, every metric is a per-unit aggregate, and arms are
compared over units. Each metric is one of four kinds, which decides its statistics:

    proportion  0/1 per unit: did the unit convert / come back?     Newcombe, difference of rates
    mean        a number per unit (cost, requests)                  Welch
    ratio       sum over units of a numerator / of a denominator    delta method, unit-clustered
                (error_rate = errors / requests): a per-request mean whose requests are
                correlated within a unit, so the variance is computed over units
    quantile    a quantile of a per-request value (latency_p95)     unit-cluster bootstrap

The catalogue (`metric_def(name)`):

    conversion:<feedback>  proportion of exposed units with a <feedback> event of value > 0 after
                           their exposure (a signup, a purchase, a resolved ticket)
    feedback:<name>        mean value of the unit's <name> events (ratio: sum / count per unit)
    retention:<N>d         proportion, among units exposed at least N days before the analysis
                           time, of those with a request at least N days after their exposure
    error_rate             failed requests / requests
    refusal_rate           refusals / requests
    latency_ms             mean latency of successful requests (ratio)
    latency_p95            95th percentile latency of successful requests (quantile)
    cost_per_request       cost (USD) / requests
    output_tokens          output tokens / successful requests
    cost_per_unit          cost (USD) per exposed unit (mean)
    requests_per_unit      requests per exposed unit (mean)

Definitions are direction-neutral: a metric only says what is measured. Which way is better is
the experiment's business (a guardrail's `bad`, the analysis' defaults for the primary).

`numerator`/`denominator` name the per-unit columns the extraction layer produces (see
`rampway.experiments.extract`), or for a quantile the per-request series. Every unit also has
its exposure time (`first_ts`); retention compares it with the unit's last request (`last_ts`).
Standard library only: definitions are validated wherever an experiment file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rampway.errors import ConfigError

Kind = Literal["proportion", "mean", "ratio", "quantile"]

CONVERSION_PREFIX = "conversion:"
FEEDBACK_PREFIX = "feedback:"
RETENTION_PREFIX = "retention:"
DAY_S = 86_400.0
MAX_RETENTION_DAYS = 365
#: Feedback names as the feedback API accepts them (`rampway.gateway.feedback.NAME_RE`).
_FEEDBACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
_RETENTION = re.compile(r"([0-9]{1,3})d")

# Per-unit columns of the extraction (request side); feedback columns are named per event.
REQUESTS, ERRORS, REFUSALS, OK_REQUESTS = "requests", "errors", "refusals", "ok_requests"
LATENCY_SUM, COST_SUM, OUTPUT_TOKENS_SUM = "latency_ms_sum", "cost_usd_sum", "output_tokens_sum"
FIRST_TS, LAST_TS = "first_ts", "last_ts"
LATENCY = "latency_ms"  # the per-request series of latency quantiles (successful requests)


def feedback_count(name: str) -> str:
    """Column: the unit's number of `name` feedback events after exposure."""
    return f"feedback_count:{name}"


def feedback_sum(name: str) -> str:
    """Column: the sum of their values."""
    return f"feedback_sum:{name}"


def converted(name: str) -> str:
    """Column: 1 if one of them had a value > 0, else 0."""
    return f"converted:{name}"


@dataclass(frozen=True, slots=True)
class MetricDef:
    """What one metric is: its kind, the per-unit columns it reads, how to show it."""

    name: str
    kind: Kind
    numerator: str  # the per-unit value (proportion, mean) or numerator (ratio) column
    denominator: str | None = None  # ratio metrics
    unit: str = ""  # for display: "ms", "USD", "tokens", "" (a rate is shown as a percentage)
    q: float | None = None  # quantile metrics: which quantile of `numerator` (a request series)
    feedback: str | None = None  # the feedback event it reads (conversion:, feedback:)
    days: int | None = None  # retention:<N>d
    description: str = ""


def _fixed() -> dict[str, MetricDef]:
    ratio: Kind = "ratio"
    mean: Kind = "mean"
    defs = (
        MetricDef("error_rate", ratio, ERRORS, REQUESTS,
                  description="failed requests / requests"),
        MetricDef("refusal_rate", ratio, REFUSALS, REQUESTS,
                  description="refused requests / requests"),
        MetricDef("latency_ms", ratio, LATENCY_SUM, OK_REQUESTS, "ms",
                  description="mean latency of successful requests"),
        MetricDef("latency_p95", "quantile", LATENCY, None, "ms", q=0.95,
                  description="95th percentile latency of successful requests"),
        MetricDef("cost_per_request", ratio, COST_SUM, REQUESTS, "USD",
                  description="cost / requests"),
        MetricDef("output_tokens", ratio, OUTPUT_TOKENS_SUM, OK_REQUESTS, "tokens",
                  description="output tokens / successful requests"),
        MetricDef("cost_per_unit", mean, COST_SUM, None, "USD",
                  description="cost per exposed unit"),
        MetricDef("requests_per_unit", mean, REQUESTS, None, "requests",
                  description="requests per exposed unit"),
    )
    return {d.name: d for d in defs}


METRICS: dict[str, MetricDef] = _fixed()
FORMS = (*METRICS, "conversion:<feedback name>", "feedback:<feedback name>", "retention:<N>d")


def metric_def(name: str) -> MetricDef:
    """The definition of metric `name`; ConfigError listing the valid forms if there is none.

    >>> metric_def("conversion:signup").kind
    'proportion'
    >>> metric_def("retention:7d").days
    7
    """
    if not isinstance(name, str):
        raise ConfigError(f"a metric name must be a string, got {type(name).__name__}")
    found = METRICS.get(name)
    if found is not None:
        return found
    for prefix, build in ((CONVERSION_PREFIX, _conversion), (FEEDBACK_PREFIX, _feedback),
                          (RETENTION_PREFIX, _retention)):
        if name.startswith(prefix):
            return build(name, name[len(prefix):])
    raise ConfigError(f"unknown metric {name!r}; valid metrics: {', '.join(FORMS)}")


def _feedback_name(metric: str, feedback: str) -> str:
    if not _FEEDBACK_NAME.fullmatch(feedback):
        prefix = metric[: len(metric) - len(feedback)]
        raise ConfigError(
            f"invalid metric {metric!r}: expected {prefix}<feedback name> (1-200 letters, digits,"
            " '_', '.', ':', '-', as sent to the feedback API)"
        )
    return feedback


def _conversion(name: str, feedback: str) -> MetricDef:
    feedback = _feedback_name(name, feedback)
    return MetricDef(name, "proportion", converted(feedback), feedback=feedback,
                     description=f"share of units with a '{feedback}' event (value > 0) "
                                 "after exposure")


def _feedback(name: str, feedback: str) -> MetricDef:
    feedback = _feedback_name(name, feedback)
    return MetricDef(name, "ratio", feedback_sum(feedback), feedback_count(feedback),
                     feedback=feedback, description=f"mean value of '{feedback}' events")


def _retention(name: str, spec: str) -> MetricDef:
    match = _RETENTION.fullmatch(spec)
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ConfigError(
            f"invalid metric {name!r}: expected retention:<N>d with N whole days in "
            f"1..{MAX_RETENTION_DAYS}, e.g. retention:7d"
        )
    return MetricDef(name, "proportion", LAST_TS, days=days,
                     description=f"share of units (exposed >= {days}d ago) with a request "
                                 f">= {days}d after exposure")


def feedback_names(defs: tuple[MetricDef, ...] | list[MetricDef]) -> tuple[str, ...]:
    """The feedback events a set of metrics reads, each once, in order."""
    return tuple(dict.fromkeys(d.feedback for d in defs if d.feedback is not None))


__all__ = [
    "CONVERSION_PREFIX",
    "DAY_S",
    "FEEDBACK_PREFIX",
    "FORMS",
    "METRICS",
    "RETENTION_PREFIX",
    "Kind",
    "MetricDef",
    "converted",
    "feedback_count",
    "feedback_names",
    "feedback_sum",
    "metric_def",
]
