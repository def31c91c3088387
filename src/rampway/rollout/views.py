"""A rollout as JSON: what `rampway rollout status --json` prints and the admin API answers,
built in one place so the CLI shows the same document whether it read the store itself or
went through a server (`--server URL`).

    rollout_json(record, evaluation)   # status: steps, gate, plan, the latest look
    brief_json(record)                 # a command's answer: where the rollout stands now
    brief_of(rollout_json(...))        # the same, cut from a status document (e.g. the API's)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rampway.rollout.repo import RolloutRecord

BRIEF_KEYS = ("id", "feature", "status", "step", "weight_pct", "candidate", "baseline", "reason",
              "gate")


def brief_json(r: RolloutRecord) -> dict[str, Any]:
    """What a command answers: where the rollout stands now."""
    return {"id": r.id, "feature": r.feature, "status": r.status.value, "step": r.step,
            "weight_pct": r.weight_bp / 100, "candidate": r.candidate, "baseline": r.baseline,
            "reason": r.reason, "gate": r.gate}


def rollout_json(r: RolloutRecord, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """The full status; `evaluation` is a look's `Evaluation.as_dict()` (or None)."""
    steps = [{"index": i, "weight_pct": s.weight, "dwell_s": s.dwell, "approval": s.approval,
              "current": i == r.step} for i, s in enumerate(r.plan.steps)]
    return {
        **brief_json(r),
        "baseline_channel": r.baseline_channel,
        "version": r.version,
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(),
        "step_started_at": _iso(r.step_started_at),
        "finished_at": _iso(r.finished_at),
        "evaluated_at": _iso(r.evaluated_at),
        "alpha": r.plan.alpha,
        "plan": r.plan.to_json(),
        "steps": steps,
        "evaluation": evaluation,
    }


def listing_json(r: RolloutRecord) -> dict[str, Any]:
    """One rollout of a listing: the brief plus its version (the ETag a command may send)."""
    return {**brief_json(r), "version": r.version}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def brief_of(doc: dict[str, Any]) -> dict[str, Any]:
    """`brief_json` of the rollout a `rollout_json` document (or an API answer) describes."""
    return {k: doc[k] for k in BRIEF_KEYS}


__all__ = ["BRIEF_KEYS", "brief_json", "brief_of", "listing_json", "rollout_json"]
