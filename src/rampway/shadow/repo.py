"""Shadow rows in the store: start, stop, read, and the pairs they collect.

Starting and stopping are each one transaction: the row change, its audit entry (`shadow.start` /
`shadow.stop`, object `shadow:<name>#<id>`) and the control-version bump, so every gateway starts
or stops mirroring within its poll interval (~0.5 s). A shadow splits no traffic: it may run beside
a rollout or an experiment of its feature, and several shadows may run on one feature.

    record = start(store, "v3-on-prod", definition, ["support-bot@9c1e…"], actor="ana",
                   reason="before the 1% step", now=time.time())
    stop(store, record, actor="ana", reason="enough pairs", now=time.time())
    pair_counts(store, record)          # {"candidate": 812, "twin": 80}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rampway.errors import ConfigError, ConflictError, RefError, StateConflict
from rampway.shadow.record import ShadowRecord
from rampway.shadow.spec import Definition, check_name
from rampway.shadow.tables import shadows
from rampway.store import Store
from rampway.store._running import RunningTable

OBJECT_TYPE = "shadow"
DAY_S = 86_400.0


def salt_for(name: str, shadow_id: int) -> str:
    return f"shadow:{name}:{shadow_id}"


def object_id(record: ShadowRecord) -> str:
    return f"{record.name}#{record.id}"


def day_start(now: float) -> float:
    """The start of the UTC day `now` falls in (the daily USD budget's window)."""
    return now - now % DAY_S


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def record_from(values: Mapping[str, Any]) -> ShadowRecord:
    """A ShadowRecord from a row's values (the stored definition read as data)."""
    d: Mapping[str, Any] = values["definition"]
    budget: Mapping[str, Any] = d.get("budget") or {}
    return ShadowRecord(
        id=int(values["id"]), name=values["name"], feature=values["feature"],
        status="running" if values["status"] == "running" else "stopped",
        candidates=tuple(str(c) for c in values["candidates"]),
        sample_bp=int(values["sample_bp"]), twin_bp=int(values["twin_bp"]),
        salt=values["salt"], started_at=values["started_at"].timestamp(),
        stopped_at=_epoch(values["stopped_at"]), ends_at=values["ends_at"],
        usd_per_day=float(budget.get("usd_per_day", 0.0)),
        requests_per_s=float(budget.get("requests_per_s", 0.0)),
        keep_text=bool(d.get("keep_text", True)), timeout_s=float(d.get("timeout", 30.0)),
        condition=d.get("condition"), definition=d,
        description=str(d.get("description", "")), actor=values["actor"],
        reason=values["reason"], stopped_by=values["stopped_by"],
        stop_reason=values["stop_reason"], version=int(values["version"]),
        shed=int(values["shed"] or 0), over_budget=int(values["over_budget"] or 0),
        expired=int(values["expired"] or 0), budget_hit_at=values["budget_hit_at"],
    )


# -- reading and stopping: one RunningTable, like experiments' ----------------------------------

_ROWS = RunningTable(shadows, OBJECT_TYPE, "active_name", record_from)
get = _ROWS.get
list_running = _ROWS.list_running
recent = _ROWS.recent  # newest first, optionally of one feature / name, or only the running ones


def latest(store: Store, name: str) -> ShadowRecord:
    """The most recent shadow called `name` (running or stopped); RefError if none."""
    return _ROWS.latest(store, check_name(name))


# -- checks -------------------------------------------------------------------------------------


def check_feature(store: Store, feature: str) -> None:
    if feature not in store.list_features():
        raise RefError(f"unknown feature {feature!r}: no release of it was ever published")


def check_candidates(
    store: Store, feature: str, release_ids: Sequence[str], *, published: bool = True
) -> list[str]:
    """Each candidate a release of `feature` (ids or prefixes in, full ids out; with
    `published=False` the ids are full ids about to be published), none equal to what the
    production channel serves now (compared with itself it says nothing: use `twin`)."""
    check_feature(store, feature)
    channel = store.get_channel(feature, "production")
    if channel is None:
        raise RefError(f"feature {feature!r} has no 'production' channel to mirror; set it "
                       f"first (rampway channel set {feature} production REF)")
    full = [store.get_release(feature, rid).release_id if published else rid
            for rid in release_ids]
    for rid in full:
        if rid == channel.release_id:
            raise ConfigError(f"candidate {rid} is what 'production' already serves: a shadow "
                              "of the primary against itself says nothing (use `twin:` for "
                              "the noise floor)")
    if len(set(full)) != len(full):
        raise ConfigError("two candidates name the same release")
    return full


def check_can_start(store: Store, name: str) -> None:
    same = recent(store, name=name, running_only=True, limit=1)
    if same:
        raise StateConflict(f"shadow {name!r} is already running (#{same[0].id}, on "
                            f"{same[0].feature!r}); stop it before starting it again")


def check_ends(definition: Definition, now: float) -> float | None:
    """The end as epoch seconds; ConfigError when it is already past."""
    ends_at = definition.ends_at(now)
    if ends_at is not None and ends_at <= now:
        raise ConfigError(f"ends: {_utc(ends_at).isoformat()} is already past")
    return ends_at


# -- writing ------------------------------------------------------------------------------------


def start(
    store: Store,
    name: str,
    definition: Definition,
    release_ids: Sequence[str],
    *,
    actor: str,
    reason: str,
    now: float,
) -> ShadowRecord:
    """Insert a running shadow (audited, control version bumped). Nothing is written on bad
    input or while a shadow of that name runs (StateConflict, also for a racing start)."""
    check_name(name)
    feature = definition.feature
    candidates = check_candidates(store, feature, release_ids)
    check_can_start(store, name)
    ends_at = check_ends(definition, now)
    values = {
        "name": name, "feature": feature, "active_name": name, "status": "running",
        "candidates": candidates, "sample_bp": definition.sample_bp,
        "twin_bp": definition.twin_bp, "salt": "", "definition": definition.to_json(),
        "ends_at": ends_at, "version": 1, "started_at": _utc(now), "actor": actor,
        "reason": reason, "shed": 0, "over_budget": 0, "expired": 0,
    }
    try:
        with store.transaction() as conn:
            store.bump_control_version(conn)
            new_id = int(conn.execute(
                shadows.insert().values(**values).returning(shadows.c.id)
            ).scalar_one())
            salt = salt_for(name, new_id)
            conn.execute(shadows.update().where(shadows.c.id == new_id).values(salt=salt))
            store.record_audit(
                actor=actor, action="shadow.start", object_type=OBJECT_TYPE,
                object_id=f"{name}#{new_id}", before=None,
                after={"status": "running", "feature": feature, "salt": salt,
                       "candidates": candidates, "definition": values["definition"]},
                reason=reason, conn=conn,
            )
    except ConflictError as error:  # the unique active_name index fired: a racing start
        raise StateConflict(f"shadow {name!r} is already running") from error
    return get(store, new_id)


def stop(
    store: Store,
    record: ShadowRecord,
    *,
    actor: str,
    reason: str,
    now: float,
    expected_version: int | None = None,
) -> ShadowRecord:
    """Stop mirroring (every gateway within a second); the record and its pairs stay."""
    return _ROWS.stop(store, record, actor=actor, reason=reason, now=now,
                      expected_version=expected_version)


__all__ = [
    "DAY_S",
    "OBJECT_TYPE",
    "check_can_start",
    "check_candidates",
    "check_ends",
    "check_feature",
    "day_start",
    "get",
    "latest",
    "list_running",
    "object_id",
    "recent",
    "record_from",
    "salt_for",
    "start",
    "stop",
]
