"""What a shadow is once started: plain, frozen data shared by serving, the CLI and the report.

    record = repo.latest(store, "v3-on-prod")
    record.candidates            # ('support-bot@9c1e…',)
    record.running_at(time.time())

`definition` is the YAML as it was when the shadow started, kept verbatim so a later edit of the
file never rewrites what ran. No I/O, no third-party imports: the gateway loads this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["running", "stopped"]


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    id: int
    name: str
    feature: str
    status: Status
    candidates: tuple[str, ...]  # release ids
    sample_bp: int
    twin_bp: int
    salt: str
    started_at: float
    stopped_at: float | None
    ends_at: float | None
    usd_per_day: float
    requests_per_s: float
    keep_text: bool
    timeout_s: float
    condition: Mapping[str, Any] | None = None
    definition: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    actor: str = ""
    reason: str = ""
    stopped_by: str | None = None
    stop_reason: str | None = None
    version: int = 1
    shed: int = 0
    over_budget: int = 0
    expired: int = 0
    budget_hit_at: float | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def ended(self, now: float) -> bool:
        """Past its end time (a running shadow mirrors nothing from then on)."""
        return self.ends_at is not None and now >= self.ends_at

    def state(self, now: float, spent_today: float) -> str:
        """What `status` says: stopped, ended, over-budget (the day's USD cap reached) or
        mirroring."""
        if not self.running:
            return "stopped"
        if self.ended(now):
            return "ended"
        if spent_today >= self.usd_per_day:
            return "over-budget"
        return "mirroring"

    def to_json(self) -> dict[str, Any]:
        """The record as the CLI's `--json` and the admin API show it."""
        return {
            "id": self.id, "name": self.name, "feature": self.feature, "status": self.status,
            "description": self.description, "candidates": list(self.candidates),
            "sample_pct": self.sample_bp / 100, "twin_pct": self.twin_bp / 100,
            "condition": None if self.condition is None else dict(self.condition),
            "budget": {"usd_per_day": self.usd_per_day, "requests_per_s": self.requests_per_s},
            "keep_text": self.keep_text, "timeout_s": self.timeout_s, "salt": self.salt,
            "started_at": _iso(self.started_at), "stopped_at": _iso(self.stopped_at),
            "ends_at": _iso(self.ends_at), "started_by": self.actor, "reason": self.reason,
            "stopped_by": self.stopped_by, "stop_reason": self.stop_reason,
            "version": self.version,
            "not_mirrored": {"shed": self.shed, "over_budget": self.over_budget,
                             "expired": self.expired},
            "budget_hit_at": _iso(self.budget_hit_at),
            "definition": dict(self.definition),
        }


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


__all__ = ["ShadowRecord", "Status"]
