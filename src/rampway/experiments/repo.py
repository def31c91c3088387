"""Experiment rows in the store: start, stop, read — and the one rule shared with rollouts.

Starting and stopping are each one transaction: the row change, its audit entry
(`experiment.start` / `experiment.stop`, object `experiment:<name>#<id>`) and the control-version
bump, so every gateway serves the new split (or production again) within its poll interval.

A feature runs at most one thing that splits its traffic: one running experiment (the database
enforces it, `experiments.active_feature` is UNIQUE) and no experiment while a rollout is active,
nor a rollout while an experiment runs. `check_no_experiment` is that rule for the rollout
controller; `check_can_start` is it for experiments.

    record = start(store, "friendlier-tone", definition, ["support-bot@3f2a…", "support-bot@9c1e…"],
                   actor="ana", reason="Q3 tone test", now=time.time())
    stop(store, record, actor="ana", reason="enough data", now=time.time())
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway._reason import require_reason
from rampway.errors import ConfigError, ConflictError, RefError, StateConflict
from rampway.events.tables import request_events, unit_column
from rampway.experiments import rollup
from rampway.experiments.model import Arm, ExperimentRecord, Guardrail
from rampway.experiments.spec import DEFAULT_MIN_RUNTIME, Definition, check_name
from rampway.experiments.tables import experiments
from rampway.store import Store
from rampway.store._running import RunningTable

OBJECT_TYPE = "experiment"
#: The channel whose traffic experiments split: units outside the coverage are served it.
CHANNEL = "production"


def salt_for(feature: str, experiment_id: int) -> str:
    return f"experiment:{feature}:{experiment_id}"


def object_id(record: ExperimentRecord) -> str:
    return f"{record.name}#{record.id}"


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def record_from(values: Mapping[str, Any]) -> ExperimentRecord:
    """An ExperimentRecord from a row's values (reads the stored definition as data: a metric
    that later left the catalogue must not make an old experiment unreadable)."""
    d: Mapping[str, Any] = values["definition"]
    return ExperimentRecord(
        id=int(values["id"]), name=values["name"], feature=values["feature"],
        status="running" if values["status"] == "running" else "stopped",
        arms=tuple(Arm(str(a["name"]), str(a["release_id"]), int(a["weight_bp"]))
                   for a in values["arms"]),
        coverage_bp=int(values["coverage_bp"]), salt=values["salt"],
        unit="session" if d.get("unit") == "session" else "user",
        primary=str(d.get("primary", "")),
        secondary=tuple(str(m) for m in d.get("secondary") or ()),
        guardrails=tuple(Guardrail(str(g["metric"]),
                                   "decrease" if g.get("bad") == "decrease" else "increase")
                         for g in d.get("guardrails") or ()),
        alpha=float(d.get("alpha", 0.05)),
        min_runtime_s=float(d.get("min_runtime", DEFAULT_MIN_RUNTIME)),
        started_at=values["started_at"].timestamp(),
        stopped_at=_epoch(values["stopped_at"]),
        definition=d,
        description=str(d.get("description", "")),
        actor=values["actor"], reason=values["reason"],
        stopped_by=values["stopped_by"], stop_reason=values["stop_reason"],
        version=int(values["version"]),
        better={str(k): "decrease" if v == "decrease" else "increase"
                for k, v in (d.get("better") or {}).items()},
    )


# -- reading and stopping: one RunningTable, like shadows' --------------------------------------

def _close_rollup(conn: Connection, record: ExperimentRecord, now: float) -> None:
    rollup.close(conn, record.id, now)  # the sinks roll up nothing after the stop


_ROWS = RunningTable(experiments, OBJECT_TYPE, "active_feature", record_from, _close_rollup)
get = _ROWS.get
list_running = _ROWS.list_running
recent = _ROWS.recent  # newest first, optionally of one feature / name, or only the running ones


def latest(store: Store, name: str) -> ExperimentRecord:
    """The most recent experiment called `name` (running or stopped); RefError if none."""
    return _ROWS.latest(store, check_name(name))


def running(store: Store, feature: str) -> ExperimentRecord | None:
    """The feature's running experiment, if any (there is at most one)."""
    return _ROWS.running(store, feature)


def exposure(store: Store, record: ExperimentRecord, now: float) -> dict[str, dict[str, int]]:
    """Requests and distinct units per arm in the experiment's window so far (a quick count for
    `status`; the analysis proper is `rampway.experiments.analysis`)."""
    until = record.stopped_at if record.stopped_at is not None else now
    ev = request_events
    unit = unit_column(ev, record.unit)  # users, or sessions for `unit: session`
    query = (
        sa.select(ev.c.arm, sa.func.count(), sa.func.count(sa.distinct(unit)))
        .where(ev.c.feature == record.feature, ev.c.ts >= record.started_at, ev.c.ts <= until,
               ev.c.arm.in_([a.name for a in record.arms]), unit.is_not(None))
        .group_by(ev.c.arm)
    )
    with store.reading() as conn:
        found = {arm: (int(n), int(u)) for arm, n, u in conn.execute(query)}
    return {a.name: {"requests": found.get(a.name, (0, 0))[0],
                     "units": found.get(a.name, (0, 0))[1]} for a in record.arms}


# -- the rule shared with rollouts ----------------------------------------------------------------


def _running_message(feature: str, other: ExperimentRecord) -> str:
    return (f"feature {feature!r} has a running experiment ({other.name}#{other.id}); "
            f"stop it first (rampway experiment stop {other.name})")


def check_no_experiment(store: Store, feature: str) -> None:
    """StateConflict when an experiment runs on `feature` — the rollout controller calls this
    before starting a rollout: a rollout and an experiment would split the same traffic."""
    other = running(store, feature)
    if other is not None:
        raise StateConflict(_running_message(feature, other))


def claim_traffic_split(store: Store, conn: Connection, feature: str,
                        kind: Literal["rollout", "experiment"]) -> None:
    """First statement of a rollout's or an experiment's start transaction.

    Bumping the control version takes the control row's lock, so concurrent starts (of either
    kind, on any node) run one after another from here; the check below then sees whatever a
    start before it committed. Without it a rollout and an experiment starting at the same
    moment on PostgreSQL could both pass their checks, made before their transactions. Two
    starts of the same kind are also caught by their table's unique `active_feature` index.
    """
    store.bump_control_version(conn)
    from rampway.rollout.tables import rollouts

    other = rollouts if kind == "experiment" else experiments
    row = conn.execute(sa.select(other.c.id).where(other.c.active_feature == feature)).first()
    if row is not None:
        what = "an active rollout" if kind == "experiment" else "a running experiment"
        raise StateConflict(f"feature {feature!r} has {what} (#{row[0]}) that started a moment "
                            f"ago; one traffic split per feature")


def check_can_start(store: Store, name: str, feature: str) -> None:
    """Everything about the feature's state that rules a new experiment out (StateConflict)."""
    from rampway.rollout import repo as rollouts

    same = recent(store, name=name, running_only=True, limit=1)
    if same:
        raise StateConflict(f"experiment {name!r} is already running (#{same[0].id}, on "
                            f"{same[0].feature!r}); stop it before starting it again")
    check_no_experiment(store, feature)
    rollout = rollouts.active(store, feature)
    if rollout is not None:
        raise StateConflict(
            f"feature {feature!r} has an active rollout (#{rollout.id}, {rollout.status.value}); "
            "finish, abort or roll it back before starting an experiment"
        )


def check_channels(store: Store, definition: Definition) -> None:
    """The production channel is set (units outside the experiment are served it) and no arm
    is named like one of the feature's channels (the event log labels channel traffic with the
    channel's name, so such an arm would mix with it)."""
    feature = definition.feature
    channels = {c.channel for c in store.list_channels(feature)}
    if CHANNEL not in channels:
        raise RefError(f"feature {feature!r} has no '{CHANNEL}' channel; set it first "
                       f"(rampway channel set {feature} {CHANNEL} REF)")
    for spec in definition.arms:
        if spec.name in channels:
            raise ConfigError(f"arm {spec.name!r} is named like a channel of {feature!r}; "
                              "pick another arm name")


def check_arms(store: Store, definition: Definition, release_ids: list[str]) -> tuple[Arm, ...]:
    """The arms as they will run: `check_channels`, and each release published for this
    feature (ids or prefixes in, full ids out)."""
    if len(release_ids) != len(definition.arms):
        raise ConfigError(f"{len(definition.arms)} arms but {len(release_ids)} releases")
    check_channels(store, definition)
    full = [store.get_release(definition.feature, rid).release_id for rid in release_ids]
    return definition.resolved_arms(full)


# -- writing ------------------------------------------------------------------------------------


def start(
    store: Store,
    name: str,
    definition: Definition,
    release_ids: list[str],
    *,
    actor: str,
    reason: str,
    now: float,
    gates: Mapping[str, Mapping[str, Any]] | None = None,
) -> ExperimentRecord:
    """Insert a running experiment (audited, control version bumped). Nothing is written on bad
    input or when the feature's state rules it out (StateConflict, also for a racing start).

    `gates` (arm → what its gate allowed, `rampway.experiments.gating`) goes into the start's
    audit row; an override also gets a row of its own, `experiment.gate_skipped`."""
    check_name(name)
    require_reason(reason, f"starting experiment {name!r}")
    feature = definition.feature
    arms = check_arms(store, definition, release_ids)
    check_can_start(store, name, feature)
    values = {
        "name": name, "feature": feature, "active_feature": feature, "status": "running",
        "arms": [_arm_json(a) for a in arms], "coverage_bp": definition.coverage_bp,
        "salt": "", "definition": definition.to_json(), "version": 1,
        "started_at": _utc(now), "actor": actor, "reason": reason,
    }
    try:
        with store.transaction() as conn:
            claim_traffic_split(store, conn, feature, "experiment")
            new_id = int(conn.execute(
                experiments.insert().values(**values).returning(experiments.c.id)
            ).scalar_one())
            salt = salt_for(feature, new_id)
            conn.execute(experiments.update().where(experiments.c.id == new_id)
                         .values(salt=salt))
            # the event sinks roll its units up from here on (`rampway.experiments.rollup`)
            since = _utc(now).timestamp()  # to the microsecond, as stored
            rollup.open_segment(conn, new_id, feature, since, since + rollup.GUARD_SECONDS,
                                definition.unit, arms)
            store.record_audit(
                actor=actor, action="experiment.start", object_type=OBJECT_TYPE,
                object_id=f"{name}#{new_id}", before=None,
                after={"status": "running", "feature": feature, "salt": salt,
                       "arms": values["arms"], "coverage_bp": definition.coverage_bp,
                       "definition": values["definition"],
                       **({} if gates is None else {"gates": dict(gates)})},
                reason=reason, conn=conn,
            )
            overridden = {k: v for k, v in (gates or {}).items() if v.get("skipped")}
            if overridden:
                store.record_audit(
                    actor=actor, action="experiment.gate_skipped", object_type=OBJECT_TYPE,
                    object_id=f"{name}#{new_id}", before=None, after=overridden,
                    reason=str(next(iter(overridden.values())).get("reason", "")), conn=conn,
                )
    except ConflictError as error:  # the unique active_feature index fired: a racing start
        other = running(store, feature)
        message = (f"feature {feature!r} already has a running experiment" if other is None
                   else _running_message(feature, other))
        raise StateConflict(message) from error
    return get(store, new_id)


def stop(
    store: Store,
    record: ExperimentRecord,
    *,
    actor: str,
    reason: str,
    now: float,
    expected_version: int | None = None,
) -> ExperimentRecord:
    """Stop a running experiment: the record stays (its window ends now), every unit is served
    production again. A stopped one is StateConflict; a stale `expected_version` ConflictError."""
    return _ROWS.stop(store, record, actor=actor, reason=reason, now=now,
                      expected_version=expected_version)


def _arm_json(arm: Arm) -> dict[str, Any]:
    return {"name": arm.name, "release_id": arm.release_id, "weight_bp": arm.weight_bp}


__all__ = [
    "CHANNEL",
    "OBJECT_TYPE",
    "check_arms",
    "check_can_start",
    "check_channels",
    "check_no_experiment",
    "exposure",
    "get",
    "latest",
    "list_running",
    "object_id",
    "recent",
    "record_from",
    "running",
    "salt_for",
    "start",
    "stop",
]
