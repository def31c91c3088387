"""What an experiment is once started: plain, frozen data shared by serving, the CLI and analysis.

    record = repo.get_by_name(store, "friendlier-tone")
    record.control                       # Arm(name='control', release_id='support-bot@9f1c…', …)
    record.arm("friendly").weight_bp     # 5000

The record carries everything the analysis needs without re-reading the YAML: the resolved arms
(release ids, weights in basis points), the assignment salt, the metrics and the window
(`started_at` … `stopped_at`). `definition` is the YAML as it was when the experiment started, kept
verbatim so a later edit of the file never rewrites history.

No I/O, no third-party imports: the gateway loads this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Unit = Literal["user", "session"]
Status = Literal["running", "stopped"]
Direction = Literal["increase", "decrease"]


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm as started: its name, the release it serves (a resolved id) and its share."""

    name: str
    release_id: str
    weight_bp: int


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not move in the `bad` direction (e.g. error_rate, bad=increase)."""

    metric: str
    bad: Direction


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: int
    name: str
    feature: str
    status: Status
    arms: tuple[Arm, ...]  # arms[0] is the control
    coverage_bp: int
    salt: str
    unit: Unit
    primary: str  # metric name
    secondary: tuple[str, ...]
    guardrails: tuple[Guardrail, ...]
    alpha: float
    min_runtime_s: float
    started_at: float  # epoch seconds
    stopped_at: float | None
    definition: Mapping[str, Any] = field(default_factory=dict)  # the YAML as started
    description: str = ""
    actor: str = ""
    reason: str = ""
    stopped_by: str | None = None
    stop_reason: str | None = None
    version: int = 1  # bumped by every change; the admin API's ETag
    better: Mapping[str, Direction] = field(default_factory=dict)  # explicit good directions

    @property
    def control(self) -> Arm:
        return self.arms[0]

    @property
    def running(self) -> bool:
        return self.status == "running"

    def arm(self, name: str) -> Arm:
        """The arm called `name`; KeyError if there is none."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The record as the CLI's `--json` and the admin API show it."""
        return {
            "id": self.id, "name": self.name, "feature": self.feature, "status": self.status,
            "description": self.description, "unit": self.unit,
            "arms": [{"name": a.name, "release_id": a.release_id, "weight_pct": a.weight_bp / 100,
                      "control": i == 0} for i, a in enumerate(self.arms)],
            "coverage_pct": self.coverage_bp / 100, "salt": self.salt,
            "primary": self.primary, "secondary": list(self.secondary),
            "guardrails": [{"metric": g.metric, "bad": g.bad} for g in self.guardrails],
            "better": dict(self.better),
            "alpha": self.alpha, "min_runtime_s": self.min_runtime_s,
            "started_at": _iso(self.started_at), "stopped_at": _iso(self.stopped_at),
            "started_by": self.actor, "reason": self.reason,
            "stopped_by": self.stopped_by, "stop_reason": self.stop_reason,
            "version": self.version, "definition": dict(self.definition),
        }

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the experiment reads: primary, secondary, then guardrails (no repeats)."""
        names = [self.primary, *self.secondary, *(g.metric for g in self.guardrails)]
        return tuple(dict.fromkeys(names))


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()
