"""Which windows the judge's roll-up keeps (`rampway.rollout.rollup`), and dropping the rest.

A segment is a feature and the moment a rollout step's window starts (`rollup_segments`).
The controller opens one in the transaction that starts a step and, in that same transaction,
deletes the feature's other segments (and all of them when the rollout finishes): so a
segment exists exactly while its step is the feature's current one, and the event sinks stop
rolling up a step's requests the moment it ends. Its per-unit and per-arm rows stay behind
until `prune_finished` (called by the controller's looks and by event retention) deletes them
in bounded batches.

Light on purpose (SQLAlchemy only): the event sink asks `find` on every batch, and a gateway
must not import numpy for features without a rollout.

    with store.transaction() as conn:
        replace(conn, "support-bot", 1767225600.0)   # the new step's window start
    prune_finished(store)                              # the old step's rows, batch by batch
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway.rollout.tables import rollup_arms, rollup_segments, rollup_units
from rampway.store import Store

#: Per prune transaction: unit rows deleted at most (an arm's rows go in several).
PRUNE_BATCH = 20_000



class Segment(NamedTuple):
    since: float  # the step's window start (epoch seconds)
    merged: bool  # its first seconds are rolled up too (`rollup.merge_guard`)
    unit: str  # "user" or "session": which hash a unit is


Segments = dict[str, list[Segment]]  # feature -> its open segments


def find(conn: Connection, features: Iterable[str], *, lock: bool = False) -> Segments:
    """The open segments of `features`. `lock` (PostgreSQL): FOR SHARE, so that a segment's
    `merge_guard` (FOR UPDATE) and its deletion wait for the batch that read it."""
    seg = rollup_segments.c
    query = sa.select(seg.feature, seg.since, seg.merged, seg.unit).where(seg.feature.in_(
        sorted(set(features))))
    found: Segments = {}
    for feature, since, merged, unit in conn.execute(query.with_for_update(read=True) if lock
                                                     else query):
        found.setdefault(feature, []).append(Segment(float(since), bool(merged), unit))
    return found


def open_segment(conn: Connection, feature: str, since: float, unit: str = "user") -> None:
    """Start rolling up `feature`'s requests from `since` on (a step's window start), their
    units being users (`unit_hash`) or sessions (`session_hash`)."""
    conn.execute(sa.insert(rollup_segments).values(feature=feature, since=since, unit=unit))


def replace(conn: Connection, feature: str, since: float | None, unit: str = "user") -> None:
    """Make the segment starting at `since` the feature's only one (none: `since` None)."""
    seg = rollup_segments.c
    others = seg.feature == feature
    if since is not None:
        others = sa.and_(others, seg.since != since)
    conn.execute(rollup_segments.delete().where(others))
    if since is not None and get(conn, feature, since) is None:
        open_segment(conn, feature, since, unit)


def get(conn: Connection, feature: str, since: float) -> Segment | None:
    """The segment starting at `since`, if open."""
    seg = rollup_segments.c
    row = conn.execute(sa.select(seg.since, seg.merged, seg.unit).where(
        seg.feature == feature, seg.since == since)).first()
    return None if row is None else Segment(float(row[0]), bool(row[1]), row[2])


def prune_finished(
    store: Store, *, batch: int = PRUNE_BATCH, deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, bool]:
    """Delete the roll-up rows of segments that are gone (finished steps), `batch` unit rows
    per transaction; (rows deleted, whether none are left). `deadline`: a `clock()` value
    to stop at between batches."""
    arms, units, seg = rollup_arms.c, rollup_units.c, rollup_segments.c
    open_ = sa.select(seg.since).where(seg.feature == arms.feature, seg.since == arms.since)
    with store.reading() as conn:
        finished = conn.execute(sa.select(arms.feature, arms.since, arms.release_id, arms.arm)
                                .where(~open_.exists())).all()
    total = 0
    for key in finished:
        where = sa.and_(units.feature == key[0], units.since == key[1],
                        units.release_id == key[2], units.arm == key[3])
        chosen = sa.select(units.unit).where(where).limit(batch)
        while True:
            with store.transaction() as conn:
                deleted = int(conn.execute(rollup_units.delete().where(
                    where, units.unit.in_(chosen.scalar_subquery()))).rowcount)
                if deleted < batch:  # the arm's last units: its row goes with them
                    conn.execute(rollup_arms.delete().where(
                        arms.feature == key[0], arms.since == key[1],
                        arms.release_id == key[2], arms.arm == key[3]))
            total += deleted
            if deleted < batch:
                break
            if deadline is not None and clock() >= deadline:
                return total, False
    return total, True


__all__ = ["Segment", "Segments", "find", "get", "open_segment", "prune_finished", "replace"]
