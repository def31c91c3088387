"""The guardrail metrics a rollout can watch, and how each is read from the event log.

Every metric is one of three kinds, which decides how the judge compares the two arms:

    proportion  a 0/1 value per request (error, fallback, refusal): difference of rates
    mean        a number per request or per feedback event (cost, output tokens, thumbs): means
    quantile    a latency quantile (p50/p95): the fraction of requests above a threshold set by
                the baseline (see `rampway.rollout._judge` for why)

`source` names the per-observation series the extraction layer produces for an arm:

    error, fallback, refusal   one 0/1 value per served request (all statuses)
    latency_ms, ttft_ms        successful requests only (ttft: streamed ones that report it)
    cost_usd                   every request (a failed call costs what it cost)
    output_tokens              successful requests only
    feedback:<name>            one value per feedback event tied to a request of the arm, or
                               (no request id) to a unit the window served in that arm only
                               (see `rampway.rollout.extract`)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rampway.errors import ConfigError

Kind = Literal["proportion", "mean", "quantile"]
FEEDBACK_PREFIX = "feedback:"
_FEEDBACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    kind: Kind
    source: str
    unit: str = ""
    q: float = 0.5  # quantile metrics only


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("error_rate", "proportion", "error"),
        MetricDef("fallback_rate", "proportion", "fallback"),
        MetricDef("refusal_rate", "proportion", "refusal"),
        MetricDef("latency_p50", "quantile", "latency_ms", "ms", 0.50),
        MetricDef("latency_p95", "quantile", "latency_ms", "ms", 0.95),
        MetricDef("ttft_p50", "quantile", "ttft_ms", "ms", 0.50),
        MetricDef("ttft_p95", "quantile", "ttft_ms", "ms", 0.95),
        MetricDef("cost_per_request", "mean", "cost_usd", "USD"),
        MetricDef("output_length", "mean", "output_tokens", "tokens"),
    )
}

#: The series every request-level extraction yields (feedback series are added per plan).
REQUEST_SOURCES = ("error", "fallback", "refusal", "latency_ms", "ttft_ms", "cost_usd",
                   "output_tokens")


def metric_def(name: str) -> MetricDef:
    """The definition of `name`; `feedback:<name>` is a mean over that feedback's values."""
    if name.startswith(FEEDBACK_PREFIX):
        feedback = name[len(FEEDBACK_PREFIX):]
        if not _FEEDBACK_NAME.fullmatch(feedback):
            raise ConfigError(f"invalid feedback metric {name!r}: expected feedback:<name>")
        return MetricDef(name, "mean", name)
    found = METRICS.get(name)
    if found is None:
        known = ", ".join([*METRICS, "feedback:<name>"])
        raise ConfigError(f"unknown guardrail metric {name!r} (known: {known})")
    return found


__all__ = ["FEEDBACK_PREFIX", "METRICS", "REQUEST_SOURCES", "Kind", "MetricDef", "metric_def"]
