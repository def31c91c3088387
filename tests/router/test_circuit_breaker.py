"""CircuitBreaker state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from rampway.errors import ConfigError
from rampway.router import BreakerConfig, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: float) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(BreakerConfig(**kwargs), clock=clock), clock  # type: ignore[arg-type]


def test_opens_after_n_consecutive_failures() -> None:
    breaker, _ = make(failure_threshold=3, cooldown_s=10)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_a_success_resets_the_consecutive_count() -> None:
    breaker, _ = make(failure_threshold=3, min_calls=100)
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == "closed"


def test_opens_on_failure_rate_over_the_window() -> None:
    breaker, clock = make(failure_threshold=100, failure_rate=0.5, min_calls=10, window_s=30)
    for i in range(9):
        clock.now += 1
        breaker.record_failure() if i % 2 else breaker.record_success()
    assert breaker.state == "closed"  # 9 calls < min_calls
    clock.now += 1
    breaker.record_failure()  # 5 of 10 failed
    assert breaker.state == "open"


def test_old_outcomes_leave_the_window() -> None:
    breaker, clock = make(failure_threshold=100, failure_rate=0.5, min_calls=4, window_s=10)
    for _ in range(3):
        breaker.record_failure()
        breaker.record_success()
    clock.now += 11  # all of those are now outside the window
    for _ in range(3):
        breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"  # 1 of 4 in the window


def test_half_open_lets_exactly_one_probe_through_after_cooldown() -> None:
    breaker, clock = make(failure_threshold=1, cooldown_s=10)
    breaker.record_failure()
    clock.now += 9.9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # the probe is in flight


def test_successful_probe_closes_the_circuit() -> None:
    breaker, clock = make(failure_threshold=2, cooldown_s=5)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(10))
    breaker.record_failure()
    assert breaker.state == "closed"  # counts were reset on close


def test_failed_probe_reopens_and_restarts_the_cooldown() -> None:
    breaker, clock = make(failure_threshold=1, cooldown_s=5)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    clock.now += 2
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_released_probe_frees_the_slot() -> None:
    breaker, clock = make(failure_threshold=1, cooldown_s=1)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"failure_rate": 0},
        {"failure_rate": 1.5},
        {"window_s": 0},
        {"min_calls": 0},
        {"cooldown_s": -1},
    ],
)
def test_invalid_config_is_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]
