"""Circuit breaker per (provider, model): stop sending traffic to an upstream that keeps failing.

States:
    closed ──(N consecutive failures, or failure rate ≥ r over ≥ m calls in the window)──▶ open
    open ──(cooldown elapsed)──▶ half_open: exactly one probe call is let through
    half_open ──probe succeeds──▶ closed      half_open ──probe fails──▶ open (cooldown restarts)

No I/O: time comes from the injected `clock`, so tests drive it with a fake one. The router
asks `allow()` before an attempt and reports the outcome with `record_success()` /
`record_failure()`; an attempt that ends without an outcome (cancelled) calls `release()` so a
half-open probe slot is never lost.

Example:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=10), clock=fake)
    for _ in range(3): breaker.record_failure()
    breaker.state            # "open"; allow() is False until fake() advances 10 s
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rampway.errors import ConfigError

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Thresholds. Both trip conditions are checked; whichever fires first opens the circuit."""

    failure_threshold: int = 5
    failure_rate: float = 0.5
    window_s: float = 30.0
    min_calls: int = 20
    cooldown_s: float = 15.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError("breaker failure_threshold must be >= 1")
        if not 0.0 < self.failure_rate <= 1.0:
            raise ConfigError("breaker failure_rate must be in (0, 1]")
        if self.window_s <= 0 or self.cooldown_s < 0 or self.min_calls < 1:
            raise ConfigError("breaker window_s must be > 0, cooldown_s >= 0, min_calls >= 1")


class CircuitBreaker:
    """State machine for one (provider, model). Not thread-safe; one per event loop."""

    __slots__ = (
        "_clock",
        "_config",
        "_consecutive",
        "_opened_at",
        "_outcomes",
        "_probing",
        "_state",
        "_window_failures",
    )

    def __init__(
        self, config: BreakerConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config or BreakerConfig()
        self._clock = clock
        self._state: State = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._window_failures = 0

    @property
    def state(self) -> State:
        """Current state; an open circuit whose cooldown has passed reads as half-open."""
        if self._state == "open" and self._cooldown_over():
            return "half_open"
        return self._state

    def allow(self) -> bool:
        """May an attempt go out now? In half-open, only one probe at a time."""
        if self._state == "closed":
            return True
        if self._state == "open":
            if not self._cooldown_over():
                return False
            self._state = "half_open"
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        if self._state != "closed":
            self._close()
            return
        self._consecutive = 0
        self._push(ok=True)

    def record_failure(self) -> None:
        if self._state != "closed":
            self._open()
            return
        self._consecutive += 1
        self._push(ok=False)
        if self._consecutive >= self._config.failure_threshold or self._rate_tripped():
            self._open()

    def release(self) -> None:
        """An allowed attempt ended with no verdict (cancelled): free the probe slot."""
        self._probing = False

    def _cooldown_over(self) -> bool:
        return self._clock() - self._opened_at >= self._config.cooldown_s

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._probing = False

    def _close(self) -> None:
        self._state = "closed"
        self._probing = False
        self._consecutive = 0
        self._outcomes.clear()
        self._window_failures = 0

    def _push(self, *, ok: bool) -> None:
        now = self._clock()
        self._outcomes.append((now, ok))
        if not ok:
            self._window_failures += 1
        horizon = now - self._config.window_s
        while self._outcomes and self._outcomes[0][0] < horizon:
            _, old_ok = self._outcomes.popleft()
            if not old_ok:
                self._window_failures -= 1

    def _rate_tripped(self) -> bool:
        calls = len(self._outcomes)
        if calls < self._config.min_calls:
            return False
        return self._window_failures / calls >= self._config.failure_rate


__all__ = ["BreakerConfig", "CircuitBreaker", "State"]
