"""How long and how often the router may try each target, and the whole request's deadline.

Pure data (STYLE.md #3): the gateway builds it from `gateway.routing` in rampway.yaml, the router
reads it. A per-target entry overrides the provider's, which overrides the defaults:

    gateway:
      routing:
        deadline: 20            # seconds for the whole request: every target, every retry
        timeout: 10             # per attempt: until the answer (or a stream's first chunk)
        connect_timeout: 2      # per attempt: until the TCP connection is open
        attempts: 2             # tries per target, the first included
        hedge_after: null       # seconds; set: a slow target gets a second request (off)
        targets:
          openai: {timeout: 15}
          sim/sim-large: {timeout: 5, attempts: 1, hedge_after: 1.5}
        features:
          support-bot: {hedge_after: 2}   # every target of this feature's chain

A timeout is never retried on the same target: a hung upstream is usually still hung a moment
later, so the next target gets the remaining time instead (`RetryPolicy.retry_timeouts`).

`hedge_after` (off unless set): when a target has not answered a non-streaming call after that
many seconds, the same request also goes to the next target of the chain, and the first complete
answer wins; the other request is cancelled (a hedged request, as in "The Tail at Scale"). It
costs a second model call on the slow tail only, so set it near the target's p95. A feature's
entry applies to every target of its chain and wins over the targets' own.

Example:
    limits = RouteLimits(deadline_s=20, default=TargetLimits(timeout_s=10, attempts=2))
    limits.for_target(Target("sim", "sim-large")).timeout_s   # 10
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rampway.errors import ConfigError
from rampway.router._types import Target

DEFAULT_DEADLINE_S = 20.0
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class TargetLimits:
    """Limits of one target; None = inherit (provider entry, then the defaults)."""

    timeout_s: float | None = None
    connect_timeout_s: float | None = None
    attempts: int | None = None
    hedge_after_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("timeout_s", "connect_timeout_s", "hedge_after_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"routing {name.removesuffix('_s')} must be > 0, got {value}")
        if self.attempts is not None and self.attempts < 1:
            raise ConfigError(f"routing attempts must be >= 1, got {self.attempts}")

    def over(self, base: TargetLimits) -> TargetLimits:
        """These limits, with unset ones taken from `base`."""
        return TargetLimits(
            timeout_s=base.timeout_s if self.timeout_s is None else self.timeout_s,
            connect_timeout_s=(
                base.connect_timeout_s if self.connect_timeout_s is None
                else self.connect_timeout_s
            ),
            attempts=base.attempts if self.attempts is None else self.attempts,
            hedge_after_s=base.hedge_after_s if self.hedge_after_s is None else self.hedge_after_s,
        )


@dataclass(frozen=True, slots=True)
class ResolvedLimits:
    timeout_s: float
    connect_timeout_s: float
    attempts: int
    hedge_after_s: float | None = None  # None: no hedged request


@dataclass(frozen=True, slots=True)
class RouteLimits:
    """The deadline of a request and the limits of each target (`targets` keyed by
    `provider` or `provider/model`)."""

    deadline_s: float = DEFAULT_DEADLINE_S
    default: TargetLimits = field(default_factory=TargetLimits)
    targets: Mapping[str, TargetLimits] = field(default_factory=dict)
    feature_hedge_s: Mapping[str, float] = field(default_factory=dict)  # feature → hedge_after

    def __post_init__(self) -> None:
        if self.deadline_s <= 0:
            raise ConfigError(f"routing deadline must be > 0, got {self.deadline_s}")
        for feature, after in self.feature_hedge_s.items():
            if after <= 0:
                raise ConfigError(f"routing hedge_after of {feature!r} must be > 0, got {after}")

    def hedge_for(self, feature: str | None) -> float | None:
        """The feature's own `hedge_after`, if it sets one (it overrides the targets')."""
        return None if feature is None else self.feature_hedge_s.get(feature)

    def for_target(self, target: Target) -> ResolvedLimits:
        base = self.default.over(
            TargetLimits(DEFAULT_TIMEOUT_S, DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_ATTEMPTS)
        )
        for key in (target.provider, f"{target.provider}/{target.model}"):
            entry = self.targets.get(key)
            if entry is not None:
                base = entry.over(base)
        assert base.timeout_s is not None and base.connect_timeout_s is not None
        assert base.attempts is not None
        return ResolvedLimits(base.timeout_s, base.connect_timeout_s, base.attempts,
                              base.hedge_after_s)

    def connect_timeout(self, provider: str) -> float:
        """The provider-level connect timeout (connections are pooled per provider)."""
        entry = self.targets.get(provider, TargetLimits())
        value = entry.over(self.default).connect_timeout_s
        return DEFAULT_CONNECT_TIMEOUT_S if value is None else value


__all__ = ["ResolvedLimits", "RouteLimits", "TargetLimits"]
