"""Routing: retries, timeouts, fallback chains and circuit breaking over providers.

from rampway.router import Router, Target
routed = await Router(registry, catalog).complete(request, [Target("sim", "sim-large")])
"""

from rampway.router._router import ProviderSource, RoutedStream, Router
from rampway.router._types import Attempt, RoutedResponse, Target
from rampway.router.breaker import BreakerConfig, CircuitBreaker
from rampway.router.limits import RouteLimits, TargetLimits
from rampway.router.retry import RetryPolicy

__all__ = [
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
