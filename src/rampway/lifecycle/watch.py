"""One tick of `rampway models watch`: find new provider drift, audit it, announce it.

A drift is announced once: the audit log (`model.drift`, object = the release) is both the
release's timeline entry and the record of what was already seen, so every watcher process (or a
restart) agrees on what is new without a table of its own.

    new = watch_once(store, notifier, window_s=86400)   # the drifts first seen by this tick
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from rampway.lifecycle.drift import Drift, detect_drift, read_observations
from rampway.rollout.notify import Notifier
from rampway.store import Store
from rampway.store.schema import audit_log

ACTION = "model.drift"
EVENT = "model_drift"
ACTOR = "rampway-watch"


def model_drifts(store: Store, *, window_s: float, now: float | None = None) -> list[Drift]:
    """Every model change in the window (fingerprint-only changes left out)."""
    now = time.time() if now is None else now
    return [d for d in detect_drift(read_observations(store, since=now - window_s))
            if d.kind == "model"]


def watch_once(store: Store, notifier: Notifier | None, *, window_s: float,
               now: float | None = None, drifts: Sequence[Drift] | None = None) -> list[Drift]:
    """Model drifts in the window (or `drifts`, already read) not audited before: audit each,
    then announce it."""
    if drifts is None:
        drifts = model_drifts(store, window_s=window_s, now=now)
    new = record_new(store, drifts)
    if notifier is not None:
        for drift in new:
            notifier.announce(EVENT, drift.to_json(), f":warning: provider drift: "
                                                      f"{drift.describe()}")
    return new


def record_new(store: Store, drifts: Sequence[Drift]) -> list[Drift]:
    """Write a `model.drift` audit entry for each drift not recorded yet; the new ones."""
    if not drifts:
        return []
    ids = sorted({d.release_id for d in drifts})
    query = sa.select(audit_log.c.object_id, audit_log.c.after).where(
        audit_log.c.action == ACTION, audit_log.c.object_id.in_(ids))
    new = []
    with store.transaction() as conn:
        seen = {(row.object_id, *_key(row.after)) for row in conn.execute(query)}
        for drift in drifts:
            if (drift.release_id, drift.provider, drift.model, drift.after) in seen:
                continue
            store.record_audit(actor=ACTOR, action=ACTION, object_type="release",
                               object_id=drift.release_id, before={"served_model": drift.before},
                               after=drift.to_json(), reason=drift.describe(), conn=conn)
            new.append(drift)
    return new


def _key(after: object) -> tuple[object, object, object]:
    if not isinstance(after, dict):
        return (None, None, None)
    return after.get("provider"), after.get("model"), after.get("after")


__all__ = ["ACTION", "EVENT", "model_drifts", "record_new", "watch_once"]
