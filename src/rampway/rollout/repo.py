"""Rollout rows in the store: create, read, and compare-and-swap transitions.

A transition is one transaction: the CAS `UPDATE rollouts … WHERE id = :id AND version = :seen`,
its audit entry (with the evidence) and the control-version bump, so gateways reload within
their poll interval. When the CAS matches no row another process got there first; `apply`
returns None and writes nothing — which is what makes each transition happen exactly once with
any number of controllers (PostgreSQL serialises the two UPDATEs on the row lock and the loser
re-checks the version; SQLite serialises whole write transactions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from rampway._reason import require_reason
from rampway.errors import ConfigError, ConflictError, StateConflict
from rampway.rollout.plan import Plan, plan_from_json
from rampway.rollout.state import ACTIVE, Position, Status, Transition
from rampway.rollout.tables import rollout_looks, rollouts
from rampway.store import Store

OBJECT_TYPE = "rollout"


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    id: int
    feature: str
    status: Status
    step: int
    weight_bp: int
    candidate: str
    baseline: str
    baseline_channel: str
    salt: str
    plan: Plan
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    step_started_at: datetime | None
    finished_at: datetime | None
    reason: str
    evaluation: dict[str, Any] | None
    evaluated_at: datetime | None
    gate: dict[str, Any] | None = None  # the gate decision / override it started from

    @property
    def position(self) -> Position:
        return Position(self.status, self.step, self.weight_bp, self.step_started_at)

    @property
    def ref(self) -> str:
        return f"{self.feature}#{self.id}"

    def summary(self) -> dict[str, Any]:
        """The part of the state an audit entry records before/after a transition."""
        return {"status": self.status.value, "step": self.step, "weight_bp": self.weight_bp,
                "version": self.version}


def _record(row: Row[Any]) -> RolloutRecord:
    return RolloutRecord(
        id=int(row.id), feature=row.feature, status=Status(row.status), step=int(row.step),
        weight_bp=int(row.weight_bp), candidate=row.candidate, baseline=row.baseline,
        baseline_channel=row.baseline_channel, salt=row.salt, plan=plan_from_json(row.plan),
        version=int(row.version), created_by=row.created_by, created_at=row.created_at,
        updated_at=row.updated_at, step_started_at=row.step_started_at,
        finished_at=row.finished_at, reason=row.reason, evaluation=row.evaluation,
        evaluated_at=row.evaluated_at, gate=row.gate,
    )


def get(store: Store, rollout_id: int) -> RolloutRecord:
    with store.reading() as conn:
        row = conn.execute(sa.select(rollouts).where(rollouts.c.id == rollout_id)).first()
    if row is None:
        raise ConfigError(f"no rollout #{rollout_id}")
    return _record(row)


def active(store: Store, feature: str) -> RolloutRecord | None:
    """The feature's rollout that is not finished yet, if any (there is at most one)."""
    with store.reading() as conn:
        row = conn.execute(
            sa.select(rollouts).where(rollouts.c.active_feature == feature)
        ).first()
    return None if row is None else _record(row)


def latest(store: Store, feature: str) -> RolloutRecord | None:
    """The feature's most recent rollout, finished or not."""
    with store.reading() as conn:
        row = conn.execute(
            sa.select(rollouts).where(rollouts.c.feature == feature)
            .order_by(rollouts.c.id.desc()).limit(1)
        ).first()
    return None if row is None else _record(row)


def recent(
    store: Store, feature: str | None = None, limit: int = 100, *, active: bool = False
) -> list[RolloutRecord]:
    """Rollouts newest first (of one feature when given; only unfinished ones with
    `active`), at most `limit`."""
    query = sa.select(rollouts).order_by(rollouts.c.id.desc()).limit(limit)
    if feature is not None:
        query = query.where(rollouts.c.feature == feature)
    if active:
        query = query.where(rollouts.c.status.in_([s.value for s in ACTIVE]))
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [_record(r) for r in rows]


def list_active(store: Store) -> list[RolloutRecord]:
    with store.reading() as conn:
        rows = conn.execute(
            sa.select(rollouts).where(rollouts.c.status.in_([s.value for s in ACTIVE]))
            .order_by(rollouts.c.id)
        ).all()
    return [_record(r) for r in rows]


def create(
    store: Store,
    *,
    feature: str,
    candidate: str,
    baseline: str,
    baseline_channel: str,
    plan: Plan,
    actor: str,
    now: datetime,
    reason: str,
    gate: dict[str, Any] | None = None,
) -> RolloutRecord:
    """Insert a pending rollout (audited). A second active rollout on the feature is refused
    (StateConflict: the feature's state rules it out, even when a racing start got past
    `check_no_overlap`).

    `gate` is kept on the row and in the audit entry; a skipped gate also gets an audit entry
    of its own (`rollout.gate_skipped`, with the reason), so overrides are easy to find.
    """
    from rampway.experiments.repo import claim_traffic_split  # experiments imports rollout

    require_reason(reason, f"starting a rollout of {feature}")
    values = {
        "feature": feature, "active_feature": feature, "status": Status.PENDING.value,
        "step": -1, "weight_bp": 0, "candidate": candidate, "baseline": baseline,
        "baseline_channel": baseline_channel, "salt": "", "plan": plan.to_json(),
        "version": 1, "created_by": actor, "created_at": now, "updated_at": now,
        "reason": reason, "gate": gate,
    }
    try:
        with store.transaction() as conn:
            claim_traffic_split(store, conn, feature, "rollout")
            new_id = int(conn.execute(
                rollouts.insert().values(**values).returning(rollouts.c.id)
            ).scalar_one())
            salt = f"rollout:{feature}:{new_id}"
            conn.execute(rollouts.update().where(rollouts.c.id == new_id).values(salt=salt))
            store.record_audit(
                actor=actor, action="rollout.create", object_type=OBJECT_TYPE,
                object_id=f"{feature}#{new_id}", before=None,
                after={"status": "pending", "candidate": candidate, "baseline": baseline,
                       "plan": plan.to_json(), "gate": gate},
                reason=reason, conn=conn,
            )
            if gate is not None and gate.get("skipped"):
                store.record_audit(
                    actor=actor, action="rollout.gate_skipped", object_type=OBJECT_TYPE,
                    object_id=f"{feature}#{new_id}", before=None, after=gate,
                    reason=str(gate.get("reason", "")), conn=conn,
                )
    except ConflictError as error:  # the unique active_feature index fired: a racing start
        raise StateConflict(_overlap_message(feature, active(store, feature))) from error
    return get(store, new_id)


def _overlap_message(feature: str, other: RolloutRecord | None) -> str:
    where = "" if other is None else (
        f" (#{other.id}, {other.status.value} at {other.weight_bp / 100:g}%)"
    )
    return (f"feature {feature!r} already has an active rollout{where}; "
            "finish, abort or roll it back first")


def check_no_overlap(store: Store, feature: str) -> None:
    other = active(store, feature)
    if other is not None:
        raise StateConflict(_overlap_message(feature, other))


def apply(
    store: Store,
    rollout: RolloutRecord,
    transition: Transition,
    *,
    actor: str,
    now: datetime,
    evidence: dict[str, Any] | None = None,
    inside: Callable[[Connection], None] | None = None,
) -> RolloutRecord | None:
    """Write `transition` if the rollout is still at the version we read; else None.

    `inside(conn)` runs in the same transaction once the CAS has won (a completing rollout
    moves its channel there), so the side effect happens exactly when the transition does.
    """
    values: dict[str, Any] = {
        "status": transition.status.value, "step": transition.step,
        "weight_bp": transition.weight_bp, "version": rollout.version + 1,
        "updated_at": now, "reason": transition.reason,
    }
    if transition.new_step:
        values["step_started_at"] = now
    if transition.terminal:
        values["finished_at"] = now
        values["active_feature"] = None
    if evidence is not None:
        values["evaluation"] = evidence
        values["evaluated_at"] = now
    with store.transaction() as conn:
        changed = conn.execute(
            rollouts.update()
            .where(rollouts.c.id == rollout.id, rollouts.c.version == rollout.version)
            .values(**values)
        ).rowcount
        if changed != 1:
            return None
        if inside is not None:
            inside(conn)
        if evidence is not None:
            _record_look(conn, rollout, evidence, now)
        after = {
            "status": transition.status.value, "step": transition.step,
            "weight_bp": transition.weight_bp, "version": rollout.version + 1,
            "evidence": evidence,
        }
        store.record_audit(
            actor=actor, action=f"rollout.{transition.kind}", object_type=OBJECT_TYPE,
            object_id=rollout.ref, before=rollout.summary(), after=after,
            reason=transition.reason, conn=conn,
        )
        store.bump_control_version(conn)
    return get(store, rollout.id)


def save_evaluation(
    store: Store, rollout: RolloutRecord, evidence: dict[str, Any], now: datetime
) -> None:
    """Keep the latest look for `rollout status` (no transition: version and gateways untouched)
    and append it to the rollout's looks — unless the rollout moved since it was read."""
    with store.transaction() as conn:
        changed = conn.execute(
            rollouts.update()
            .where(rollouts.c.id == rollout.id, rollouts.c.version == rollout.version)
            .values(evaluation=evidence, evaluated_at=now)
        ).rowcount
        if changed == 1:
            _record_look(conn, rollout, evidence, now)


@dataclass(frozen=True, slots=True)
class Look:
    """One look of the judge: the step and weight it judged, what it concluded and why."""

    at: datetime
    step: int
    weight_bp: int
    action: str
    evidence: dict[str, Any]


def _record_look(conn: Connection, rollout: RolloutRecord, evidence: dict[str, Any],
                 now: datetime) -> None:
    conn.execute(rollout_looks.insert().values(
        rollout_id=rollout.id, at=now, step=rollout.step, weight_bp=rollout.weight_bp,
        action=str(evidence.get("action", "")), evidence=evidence,
    ))


def looks(store: Store, rollout_id: int, limit: int = 1000) -> list[Look]:
    """The rollout's looks, oldest first: the newest `limit` of them."""
    c = rollout_looks.c
    with store.reading() as conn:
        rows = conn.execute(
            sa.select(rollout_looks).where(c.rollout_id == rollout_id)
            .order_by(c.id.desc()).limit(limit)
        ).all()
    return [Look(r.at, int(r.step), int(r.weight_bp), r.action, dict(r.evidence))
            for r in reversed(rows)]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


__all__ = [
    "OBJECT_TYPE",
    "Look",
    "RolloutRecord",
    "active",
    "apply",
    "check_no_overlap",
    "create",
    "get",
    "latest",
    "list_active",
    "looks",
    "recent",
    "save_evaluation",
    "utc",
]
