"""Prometheus metrics as a hook, on a registry owned by the gateway instance (not the process).

Per-instance registries keep tests and several gateways in one process independent. With
`rampway serve --workers N`, the runner sets `PROMETHEUS_MULTIPROC_DIR` before the workers start,
and `/metrics` aggregates every worker's values (prometheus-client multiprocess mode).

Series (all labelled feature, release, arm; those marked * also provider and model — what
answered, which a fallback or a model flag makes differ from the release's primary; both empty
when no provider answered):
    rampway_requests_total{status} *         rampway_request_latency_seconds (histogram)
    rampway_ttft_seconds (histogram, streams) rampway_tokens_total{kind=input|output|cached} *
    rampway_cost_usd_total *                 rampway_errors_total{code}
    rampway_fallbacks_total                  rampway_refusals_total
    rampway_hedges_total{winner=first|hedge} (a hedged second request was sent; who answered)
plus rampway_rejected_total{code} (refused before routing: no feature/release labels, so
clients cannot blow up label cardinality), rampway_events_dropped_total{reason} (every event
that did not reach the database: queue_full, closed, rejected (dead-lettered), write_failed)
and rampway_unroutable_skips_total{provider, model} (a target the gateway could not route —
e.g. a model flag naming a model without a catalog entry — skipped to the next one).

Release ids are label values, so every release ever served would stay a series forever. At
each scrape, the series of a release that no longer serves (on no channel, rollout, experiment
or pinning flag) and has seen no request for `idle_s` (`gateway.metrics.idle_expiry`, an hour
by default) are removed. Not in multiprocess mode: there values live in per-worker files that
prometheus-client cannot prune; they go with the next restart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from rampway.errors import RampwayError
from rampway.gateway.call import CallInput, CallRecord
from rampway.gateway.hooks import Hook

if TYPE_CHECKING:
    from rampway.gateway.control import ControlSnapshot

LABELS = ("feature", "release", "arm")
ROUTE_LABELS = (*LABELS, "provider", "model")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_IDLE_S = 3600.0
_KINDS = ("input", "output", "cached")
_STATUSES = ("ok", "error")


class _Route:
    """The children of one (feature, release, arm, provider, model): requests, tokens, cost."""

    __slots__ = ("cached", "cost", "errors", "input", "ok", "output")

    def __init__(self, metrics: GatewayMetrics, labels: tuple[str, ...]) -> None:
        self.ok = metrics.requests.labels(*labels, "ok")
        self.errors = metrics.requests.labels(*labels, "error")
        self.input = metrics.tokens.labels(*labels, "input")
        self.output = metrics.tokens.labels(*labels, "output")
        self.cached = metrics.tokens.labels(*labels, "cached")
        self.cost = metrics.cost.labels(*labels)


class _Series:
    """The labelled children for one (feature, release, arm), resolved once and cached."""

    __slots__ = (
        "fallbacks",
        "last_seen",
        "latency",
        "refusals",
        "routes",
        "ttft",
        "_error_children",
        "_labels",
        "_metrics",
    )

    def __init__(self, metrics: GatewayMetrics, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self.latency = metrics.latency.labels(*labels)
        self.ttft = metrics.ttft.labels(*labels)
        self.fallbacks = metrics.fallbacks.labels(*labels)
        self.refusals = metrics.refusals.labels(*labels)
        self.routes: dict[tuple[str, str], _Route] = {}
        self._error_children: dict[str, Any] = {}
        self.last_seen = 0.0

    @property
    def labels(self) -> tuple[str, str, str]:
        return self._labels

    def route(self, provider: str, model: str) -> _Route:
        key = (provider, model)
        found = self.routes.get(key)
        if found is None:
            found = self.routes[key] = _Route(self._metrics, (*self._labels, provider, model))
        return found

    def error(self, code: str) -> Any:
        child = self._error_children.get(code)
        if child is None:
            child = self._metrics.error_codes.labels(*self._labels, code)
            self._error_children[code] = child
        return child

    def remove(self) -> None:
        """Drop every child of this series from its families."""
        m, labels = self._metrics, self._labels
        for provider, model in self.routes:
            route = (*labels, provider, model)
            for status in _STATUSES:
                _remove(m.requests, *route, status)
            for kind in _KINDS:
                _remove(m.tokens, *route, kind)
            _remove(m.cost, *route)
        for family in (m.latency, m.ttft, m.fallbacks, m.refusals):
            _remove(family, *labels)
        for code in self._error_children:
            _remove(m.error_codes, *labels, code)
        for winner in ("first", "hedge"):
            _remove(m.hedges, *labels, winner)


def _remove(family: Any, *labels: str) -> None:
    try:
        family.remove(*labels)
    except KeyError:  # never created (no hedge, say)
        pass


def served_releases(snapshot: ControlSnapshot) -> frozenset[str]:
    """Ids of every release the gateway may serve under this snapshot."""
    ids = {r.id for entry in snapshot.features.values() for r in entry.channels.values()}
    for releases in (snapshot.pinned, snapshot.rollout_releases, snapshot.experiment_releases,
                     snapshot.shadow_releases):
        ids.update(r.id for r in releases.values())
    return frozenset(ids)


class GatewayMetrics:
    """The metric families of one gateway instance.

    `serving` returns the ids of the releases currently served (see `served_releases`);
    without it nothing expires. `clock` is injectable for tests (monotonic seconds).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 idle_s: float = DEFAULT_IDLE_S,
                 serving: Callable[[], Collection[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.idle_s = idle_s
        self._serving = serving
        self.clock = clock
        r = self.registry
        self.requests = Counter(
            "rampway_requests", "Served requests", (*ROUTE_LABELS, "status"), registry=r
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
        self.tokens = Counter("rampway_tokens", "Tokens", (*ROUTE_LABELS, "kind"), registry=r)
        self.cost = Counter("rampway_cost_usd", "Cost in USD", ROUTE_LABELS, registry=r)
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

    def expire(self) -> list[tuple[str, str, str]]:
        """Remove the series of releases no longer served and idle for `idle_s`; returns
        their (feature, release, arm) keys."""
        if self._serving is None:
            return []
        cutoff = self.clock() - self.idle_s
        idle = [k for k, s in self._series.items() if s.last_seen < cutoff]
        if not idle:
            return []
        serving = self._serving()
        gone = [k for k in idle if k[1] not in serving]
        for key in gone:
            self._series.pop(key).remove()
        return gone

    def render(self) -> bytes:
        """The exposition text; all workers' values in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        self.expire()
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
        s.last_seen = self.metrics.clock()
        s.latency.observe(record.latency_s)
        if record.ttft_s is not None:
            s.ttft.observe(record.ttft_s)
        route = s.route(record.provider or "", record.model or "")
        if record.status == "ok":
            route.ok.inc()
        else:
            route.errors.inc()
            s.error(record.error_code or "error").inc()
        u = record.usage
        if u.input_tokens:
            route.input.inc(u.input_tokens)
        if u.output_tokens:
            route.output.inc(u.output_tokens)
        if u.cached_tokens:
            route.cached.inc(u.cached_tokens)
        if record.cost_usd:
            route.cost.inc(record.cost_usd)
        if record.fallback_used:
            s.fallbacks.inc()
        if record.hedged:  # rare (the slow tail): no cached child
            winner = "hedge" if record.hedge_won else "first"
            self.metrics.hedges.labels(*s.labels, winner).inc()
        if record.refusal:
            s.refusals.inc()

    def on_rejected(self, call: CallInput | None, error: RampwayError) -> None:
        self.metrics.rejected.labels(error.code).inc()


__all__ = ["CONTENT_TYPE", "DEFAULT_IDLE_S", "GatewayMetrics", "MetricsHook", "served_releases"]
