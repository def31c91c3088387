"""Plain records the router returns: what was tried, what served, what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from rampway.providers.types import ChatResponse


@dataclass(frozen=True, slots=True)
class Target:
    """One (provider, model) in a fallback chain, in the order the release declares them."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(slots=True)
class Attempt:
    """One try against one target. `error` is the ProviderError code, None on success.

    `skipped` marks targets the router refused locally without a network call (open circuit,
    prompt over the context window); `retry_delay_s` is the backoff slept after this attempt.
    """

    provider: str
    model: str
    error: str | None
    status: int | None
    latency_s: float
    retry_delay_s: float = 0.0
    skipped: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "model": self.model,
            "error": self.error,
            "status": self.status,
            "latency_s": self.latency_s,
            "retry_delay_s": self.retry_delay_s,
            "skipped": self.skipped,
        }


@dataclass(slots=True)
class RoutedResponse:
    response: ChatResponse
    attempts: list[Attempt] = field(default_factory=list)
    served_by: Target = field(default_factory=lambda: Target("", ""))
    cost_usd: float = 0.0
    fallback_used: bool = False
    hedged: bool = False  # a hedged second request was sent (served_by says who answered)
    hedge_won: bool = False  # ... and it answered first


__all__ = ["Attempt", "RoutedResponse", "Target"]
