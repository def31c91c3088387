"""When to retry a failed attempt on the same model, and how long to wait first.

Pure policy (STYLE.md #3): no clock, no sleep, no network. The router asks
`next_delay(attempt, error, elapsed_s=...)` after every failed attempt and either sleeps the
returned number of seconds or, on `None`, moves on to the next fallback target.

Example:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.2)
    policy.next_delay(1, ProviderUnavailable("503"))          # somewhere in [0, 0.2)
    policy.next_delay(1, RateLimited("429", retry_after=2.0))  # exactly 2.0
    policy.next_delay(3, ProviderUnavailable("503"))          # None: attempts used up
    policy.next_delay(1, ProviderTimeout("hung"))             # None: fall back instead
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from rampway.errors import ConfigError, ProviderError, ProviderTimeout


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter that honours `Retry-After`.

    - `max_attempts`: tries per target (model), the first one included.
    - Full jitter (delay uniform in [0, min(max_delay, base * 2**(attempt-1)))) spreads retries
      of many clients so they don't hammer a recovering upstream in lockstep.
    - A `retry_after` hint from the upstream is waited exactly, unless it exceeds
      `max_retry_after_s`; then waiting is worse than falling back, so we give up on the target.
    - `deadline_s` bounds the whole call across all targets: no retry starts whose wait would
      end past it.
    - A timeout is not retried on the same target unless `retry_timeouts`: a hung upstream is
      usually still hung a moment later, and waiting for it again spends the time the next
      target in the fallback chain needs (3 attempts × 30 s was 90 s before any fallback).
    """

    max_attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0
    deadline_s: float = 120.0
    retry_timeouts: bool = False
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"retry max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("base_delay_s", "max_delay_s", "max_retry_after_s", "deadline_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"retry {name} must be >= 0, got {getattr(self, name)}")

    def next_delay(
        self, attempt: int, error: ProviderError, *, elapsed_s: float = 0.0
    ) -> float | None:
        """Seconds to wait before attempt number `attempt + 1` on the same target, or None.

        `attempt` counts the attempts already made on this target (1 after the first failure);
        `elapsed_s` is the time spent on the whole call so far.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if isinstance(error, ProviderTimeout) and not self.retry_timeouts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after_s:
                return None
            delay = max(0.0, error.retry_after)
        else:
            delay = self.backoff(attempt)
        if elapsed_s + delay >= self.deadline_s:
            return None
        return delay

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the wait after the `attempt`-th failure."""
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, attempt - 1))
        return self.rand() * cap


__all__ = ["RetryPolicy"]
