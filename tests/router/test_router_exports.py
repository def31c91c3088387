"""The public surface of rampway.router is what we meant (STYLE.md #12)."""

from __future__ import annotations

import dataclasses

import rampway.router as router


def test_exported_names() -> None:
    assert sorted(router.__all__) == [
        "Attempt",
        "BreakerConfig",
        "CircuitBreaker",
        "ProviderSource",
        "RetryPolicy",
        "RouteLimits",
        "RoutedResponse",
        "RoutedStream",
        "Router",
        "Target",
        "TargetLimits",
    ]
    for name in router.__all__:
        assert getattr(router, name).__module__.startswith("rampway.router")


def test_record_fields_match_the_documented_api() -> None:
    fields = [f.name for f in dataclasses.fields(router.Attempt)]
    assert fields[:6] == ["provider", "model", "error", "status", "latency_s", "retry_delay_s"]
    assert [f.name for f in dataclasses.fields(router.RoutedResponse)] == [
        "response",
        "attempts",
        "served_by",
        "cost_usd",
        "fallback_used",
        "hedged",
        "hedge_won",
    ]
    assert [f.name for f in dataclasses.fields(router.Target)] == ["provider", "model"]
