"""Prometheus metrics as a hook, on a registry owned by the gateway instance (not the process).

Per-instance registries keep tests and several gateways in one process independent. With
`rampway serve --workers N`, the runner sets `PROMETHEUS_MULTIPROC_DIR` before the workers start,
and `/metrics` aggregates every worker's values (prometheus-client multiprocess mode).

Series (all labelled feature, release, arm):
    rampway_requests_total{status}           rampway_request_latency_seconds (histogram)
    rampway_ttft_seconds (histogram, streams) rampway_tokens_total{kind=input|output|cached}
    rampway_cost_usd_total                   rampway_errors_total{code}
    rampway_fallbacks_total                  rampway_refusals_total
    rampway_hedges_total{winner=first|hedge} (a hedged second request was sent; who answered)
plus rampway_rejected_total{code} (refused before routing: no feature/release labels, so
clients cannot blow up label cardinality), rampway_events_dropped_total{reason} (every event
that did not reach the database: queue_full, closed, rejected (dead-lettered), write_failed)
and rampway_unroutable_skips_total{provider, model} (a target the gateway could not route —
e.g. a model flag naming a model without a catalog entry — skipped to the next one).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from rampway.errors import RampwayError
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.hooks import Hook

LABELS = ("feature", "release", "arm")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Series:
    """The labelled children for one (feature, release, arm), resolved once and cached."""

    __slots__ = (
        "cached",
        "cost",
        "errors",
        "fallbacks",
        "input",
        "latency",
        "ok",
        "output",
        "refusals",
        "ttft",
        "_error_children",
        "_labels",
        "_metrics",
    )

    def __init__(self, metrics: GatewayMetrics, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self.ok = metrics.requests.labels(*labels, "ok")
        self.errors = metrics.requests.labels(*labels, "error")
        self.latency = metrics.latency.labels(*labels)
        self.ttft = metrics.ttft.labels(*labels)
        self.input = metrics.tokens.labels(*labels, "input")
        self.output = metrics.tokens.labels(*labels, "output")
        self.cached = metrics.tokens.labels(*labels, "cached")
        self.cost = metrics.cost.labels(*labels)
        self.fallbacks = metrics.fallbacks.labels(*labels)
        self.refusals = metrics.refusals.labels(*labels)
        self._error_children: dict[str, Any] = {}

    @property
    def labels(self) -> tuple[str, str, str]:
        return self._labels

    def error(self, code: str) -> Any:
        child = self._error_children.get(code)
        if child is None:
            child = self._metrics.error_codes.labels(*self._labels, code)
            self._error_children[code] = child
        return child


class GatewayMetrics:
    """The metric families of one gateway instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "rampway_requests", "Served requests", (*LABELS, "status"), registry=r
        )
        self.latency = Histogram(
            "rampway_request_latency_seconds",
            "End-to-end latency",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "rampway_ttft_seconds",
            "Time to first token (streams)",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("rampway_tokens", "Tokens", (*LABELS, "kind"), registry=r)
        self.cost = Counter("rampway_cost_usd", "Cost in USD", LABELS, registry=r)
        self.error_codes = Counter(
            "rampway_errors", "Failed requests by error code", (*LABELS, "code"), registry=r
        )
        self.fallbacks = Counter(
            "rampway_fallbacks", "Requests served by a fallback", LABELS, registry=r
        )
        self.hedges = Counter(
            "rampway_hedges", "Requests that sent a hedged second request, by who answered",
            (*LABELS, "winner"), registry=r,
        )
        self.refusals = Counter(
            "rampway_refusals", "Responses that were refusals", LABELS, registry=r
        )
        self.rejected = Counter(
            "rampway_rejected", "Requests refused before routing", ("code",), registry=r
        )
        self.events_dropped = Counter(
            "rampway_events_dropped", "Events not written to the event log, by reason",
            ("reason",), registry=r,
        )
        self.unroutable = Counter(  # labels come from releases and flags, not from clients
            "rampway_unroutable_skips", "Targets skipped: no provider or catalog entry",
            ("provider", "model"), registry=r,
        )
        self._series: dict[tuple[str, str, str], _Series] = {}

    def series(self, feature: str, release: str, arm: str) -> _Series:
        key = (feature, release, arm)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = _Series(self, key)
        return found

    def event_dropped(self, reason: str, n: int) -> None:
        """The event writer's `on_drop`: count `n` lost events under `reason`."""
        self.events_dropped.labels(reason).inc(n)

    def render(self) -> bytes:
        """The exposition text; all workers' values in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))


class MetricsHook(Hook):
    """Observes every finished call into `GatewayMetrics`."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def after_call(self, record: CallRecord) -> None:
        res = record.resolution
        if res is None:
            return
        s = self.metrics.series(res.feature.name, res.release.id, res.arm)
        s.latency.observe(record.latency_s)
        if record.ttft_s is not None:
            s.ttft.observe(record.ttft_s)
        if record.status == "ok":
            s.ok.inc()
        else:
            s.errors.inc()
            s.error(record.error_code or "error").inc()
        u = record.usage
        if u.input_tokens:
            s.input.inc(u.input_tokens)
        if u.output_tokens:
            s.output.inc(u.output_tokens)
        if u.cached_tokens:
            s.cached.inc(u.cached_tokens)
        if record.cost_usd:
            s.cost.inc(record.cost_usd)
        if record.fallback_used:
            s.fallbacks.inc()
        if record.hedged:  # rare (the slow tail): no cached child
            winner = "hedge" if record.hedge_won else "first"
            self.metrics.hedges.labels(*s.labels, winner).inc()
        if record.refusal:
            s.refusals.inc()

    def on_rejected(self, call: CallInput | None, error: RampwayError) -> None:
        self.metrics.rejected.labels(error.code).inc()


__all__ = ["CONTENT_TYPE", "GatewayMetrics", "MetricsHook"]
