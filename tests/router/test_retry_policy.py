"""RetryPolicy: pure decisions, no clock or sleep involved."""

from __future__ import annotations

import random

import pytest

from rampway.errors import (
    CircuitOpen,
    ConfigError,
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from rampway.router import RetryPolicy


def test_retryable_errors_get_a_delay_within_the_backoff_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=100, rand=lambda: 0.999)
    timeouts = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=100,
                           rand=lambda: 0.999, retry_timeouts=True)
    delay = timeouts.next_delay(1, ProviderTimeout("x"))
    assert delay is not None and 0 <= delay < 0.5
    for error in (
        ProviderUnavailable("x"),
        ProviderConnectionError("x"),
        StreamInterrupted("x"),
        RateLimited("x"),
    ):
        delay = policy.next_delay(1, error)
        assert delay is not None and 0 <= delay < 0.5


@pytest.mark.parametrize(
    "error",
    [ProviderAuthError("x"), ProviderBadRequest("x"), ContextWindowExceeded("x"), CircuitOpen("x")],
)
def test_non_retryable_errors_are_never_retried(error: Exception) -> None:
    assert RetryPolicy().next_delay(1, error) is None  # type: ignore[arg-type]


def test_backoff_doubles_per_attempt_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.1, max_delay_s=1.0, rand=lambda: 1.0)
    caps = [policy.backoff(n) for n in range(1, 7)]
    assert caps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(max_attempts=9, base_delay_s=1.0, max_delay_s=1.0, rand=rng.random)
    delays = [policy.next_delay(1, ProviderUnavailable("x")) for _ in range(2000)]
    values = [d for d in delays if d is not None]
    assert len(values) == 2000
    assert min(values) < 0.05 and max(values) > 0.95
    assert 0.45 < sum(values) / len(values) < 0.55


def test_max_attempts_counts_the_first_try() -> None:
    policy = RetryPolicy(max_attempts=3, rand=lambda: 0.5)
    assert policy.next_delay(1, ProviderUnavailable("x")) is not None
    assert policy.next_delay(2, ProviderUnavailable("x")) is not None
    assert policy.next_delay(3, ProviderUnavailable("x")) is None
    assert RetryPolicy(max_attempts=1).next_delay(1, ProviderUnavailable("x")) is None


def test_retry_after_is_honoured_exactly() -> None:
    policy = RetryPolicy(rand=lambda: 0.0)
    assert policy.next_delay(1, RateLimited("x", retry_after=2.5)) == 2.5
    assert policy.next_delay(1, ProviderUnavailable("x", retry_after=1.0)) == 1.0
    assert policy.next_delay(1, RateLimited("x", retry_after=0.0)) == 0.0


def test_retry_after_longer_than_the_limit_gives_up_on_the_target() -> None:
    policy = RetryPolicy(max_retry_after_s=10)
    assert policy.next_delay(1, RateLimited("x", retry_after=11)) is None
    assert policy.next_delay(1, RateLimited("x", retry_after=10)) == 10


def test_no_retry_whose_wait_would_end_past_the_deadline() -> None:
    policy = RetryPolicy(deadline_s=10, rand=lambda: 0.0)
    assert policy.next_delay(1, RateLimited("x", retry_after=3), elapsed_s=6.9) == 3
    assert policy.next_delay(1, RateLimited("x", retry_after=3), elapsed_s=7.0) is None
    assert policy.next_delay(1, ProviderUnavailable("x"), elapsed_s=10.0) is None


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay_s": -1}, {"deadline_s": -0.1}]
)
def test_invalid_settings_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_timeout_moves_on_to_the_next_target_instead_of_waiting_again() -> None:
    # A hung upstream is usually still hung: 3 x 30 s on one target was 90 s before a fallback.
    assert RetryPolicy(max_attempts=3).next_delay(1, ProviderTimeout("hung")) is None
