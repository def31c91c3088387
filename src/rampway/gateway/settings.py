"""The `gateway:` section of rampway.yaml, validated by its owner (this module).

gateway:
  max_body_bytes: 1048576        # larger bodies get 413
  require_keys: false            # true: refuse requests without a key even if none exist yet
  keys:                          # optional keys declared in config (hashes only, never keys)
    - {name: web, sha256: 9f86d0…, features: [support-bot]}
  events:
    flush_interval: 0.5          # crash-loss window, seconds
    batch_size: 500
    max_queue: 50000             # beyond this, new events are dropped (and counted)
    attributes: [plan, country]  # attribute names stored with each event (default: all)
    dead_letter: .rampway/dead-letter/events.jsonl   # rows the database refused (null: log only)
    retention: forever           # e.g. 90d: older events are deleted hourly (default: keep all)
  reload_interval: 0.25          # how often the control version is polled, seconds
  routing:                       # upstream time limits (see rampway.router.limits)
    deadline: 20                 # seconds per request: every target, every retry
    timeout: 10                  # per attempt, until the answer / a stream's first chunk
    connect_timeout: 2           # per attempt, until the connection is open
    attempts: 2                  # tries per target; a timeout moves on to the next target
    hedge_after: null            # seconds: then also ask the next target, first answer wins
    targets: {openai: {timeout: 15}, sim/sim-large: {timeout: 5, attempts: 1, hedge_after: 2}}
    features: {support-bot: {hedge_after: 1.5}}   # a feature's hedge, for every target it uses
  shadow:                        # shadow traffic (rampway.shadow.capture), off the served path
    max_queue: 1000              # shadow calls waiting; beyond this new ones are shed (counted)
    workers: 32                  # shadow calls in flight at once per process
    max_lag: 0.01                # seconds the event loop may run late before shadow work is shed
    flush_interval: 0.5          # how often pairs are written, seconds
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rampway.errors import ConfigError
from rampway.events.retention import DEFAULT_RETENTION_S, parse_retention
from rampway.router.limits import RouteLimits, TargetLimits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeySpec(_Strict):
    name: str = Field(min_length=1, max_length=200)
    sha256: str
    features: list[str] | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be the 64-hex SHA-256 of the key (see `rampway keys hash`)")
        return value


class EventSettings(_Strict):
    flush_interval: float = Field(default=0.5, gt=0, le=60)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    max_queue: int = Field(default=50_000, ge=1)
    attributes: list[str] | None = None
    # Relative to the project root. Events the database refuses (after the batch was split to
    # isolate them) are appended here with the reason; see rampway.events.deadletter.
    dead_letter: str | None = ".rampway/dead-letter/events.jsonl"
    # Seconds events are kept (`30d`, `12h`; at least 1h), None = forever. The fleet's rollout
    # controller applies it hourly; `rampway events prune` on demand (rampway.events.retention).
    retention: float | None = DEFAULT_RETENTION_S

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> float | None:
        return parse_retention(value)


class TargetRouting(_Strict):
    timeout: float | None = Field(default=None, gt=0, le=3600)
    connect_timeout: float | None = Field(default=None, gt=0, le=600)
    attempts: int | None = Field(default=None, ge=1, le=10)
    hedge_after: float | None = Field(default=None, gt=0, le=3600)

    def limits(self) -> TargetLimits:
        return TargetLimits(self.timeout, self.connect_timeout, self.attempts, self.hedge_after)


class FeatureRouting(_Strict):
    hedge_after: float = Field(gt=0, le=3600)


class RoutingSettings(TargetRouting):
    deadline: float = Field(default=20.0, gt=0, le=3600)
    targets: dict[str, TargetRouting] = Field(default_factory=dict)
    features: dict[str, FeatureRouting] = Field(default_factory=dict)

    def route_limits(self) -> RouteLimits:
        return RouteLimits(
            deadline_s=self.deadline,
            default=self.limits(),
            targets={name: t.limits() for name, t in self.targets.items()},
            feature_hedge_s={name: f.hedge_after for name, f in self.features.items()},
        )


class ShadowSettings(_Strict):
    max_queue: int = Field(default=1_000, ge=1, le=1_000_000)
    workers: int = Field(default=32, ge=1, le=1_000)
    max_lag: float = Field(default=0.01, gt=0, le=10)
    flush_interval: float = Field(default=0.5, gt=0, le=60)


class MetricsSettings(_Strict):
    idle_expiry: float = Field(default=3600.0, gt=0)  # s; see rampway.gateway.metrics


class GatewaySettings(_Strict):
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    require_keys: bool = False
    keys: list[KeySpec] = Field(default_factory=list)
    events: EventSettings = Field(default_factory=EventSettings)
    reload_interval: float = Field(default=0.25, gt=0, le=60)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> GatewaySettings:
        """Validate `gateway:`; errors read `rampway.yaml: gateway.events.batch_size: …`."""
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("gateway", *first["loc"]))
            raise ConfigError(f"rampway.yaml: {where}: {first['msg']}") from exc


__all__ = ["EventSettings", "GatewaySettings", "KeySpec", "MetricsSettings", "RoutingSettings",
           "ShadowSettings"]
