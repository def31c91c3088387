"""The roll-up's batch ledger, for a sink whose events go to another database than the roll-up
(ClickHouse: `rampway.events.clickhouse.sink.ClickHouseSink`).

The SQL sink writes a batch and its roll-up in one transaction. A ClickHouse sink cannot: the
events go to ClickHouse, the roll-up stays in the control database. So each batch that touches
a segment goes through three steps, and `rollup_batches` remembers where it is, by the batch's
token (the ClickHouse insert's deduplication token):

1. `reserve` (a control-DB transaction): a *pending* row per (token, segment);
2. the ClickHouse insert (deduplicated by the token: a retried batch is stored once);
3. `settle` in the roll-up's transaction: if the token is still pending, apply the roll-up
   and mark it applied; if it is applied already (a retry whose first roll-up committed but
   was not acknowledged), do nothing. So a batch is rolled up once, and only once it is in
   ClickHouse: the roll-up never holds a request the event log does not.

A batch ClickHouse refuses for its rows (poison, nothing written) is `release`d: its pending
rows go. What can still leave the roll-up short of the event log is a batch whose process
dies between step 2 and 3 (or whose roll-up fails past the writer's retries): its pending row
stays (so does a gap: a batch written while this database was down, `mark_gap`). `stale`
finds such rows, and a look then reads the event log instead (exact, slower);
`merge_guard` also waits while any batch of the segment is pending, since a pending batch may
be in ClickHouse already and roll up its guard seconds after the merge (counting them twice).

Light on purpose (SQLAlchemy only), like `segments`: the sink calls it on every batch.

    with store.transaction() as conn:
        if reserve(conn, token, found, now):     # step 1; False: rolled up already
            ...
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampway.rollout.segments import Segments
from rampway.rollout.tables import rollup_batches, rollup_segments

#: An applied token is kept this long: far beyond the writer's retries (seconds), so a retry
#: always finds it; ClickHouse's own deduplication window is 1000 inserts.
KEEP_APPLIED_S = 3600.0
#: A pending batch older than this is taken as lost (its process died between its ClickHouse
#: insert and its roll-up): the writer retries for seconds, a batch takes milliseconds.
STALE_AFTER_S = 60.0


def reserve(conn: Connection, token: str, found: Segments, now: float) -> bool:
    """Step 1: mark the batch pending for each segment in `found`; False when its roll-up was
    applied already (a retried batch: write it to ClickHouse again, roll nothing up)."""
    b = rollup_batches.c
    if conn.scalar(sa.select(b.token).where(b.token == token, b.applied).limit(1)):
        return False
    known = {(f, float(s)) for f, s in conn.execute(
        sa.select(b.feature, b.since).where(b.token == token))}
    rows = [{"token": token, "feature": feature, "since": segment.since, "at": now}
            for feature, spans in sorted(found.items()) for segment in spans
            if (feature, segment.since) not in known]
    if rows:
        conn.execute(sa.insert(rollup_batches), rows)
    return True


def settle(conn: Connection, token: str, *, lock: bool = False) -> bool:
    """Step 3, in the roll-up's transaction: True when the batch's roll-up is to be applied now
    (it was pending; it is marked applied), False when it was applied already. `lock`
    (PostgreSQL): the token's rows FOR UPDATE, so two retries of one batch apply it once."""
    b = rollup_batches.c
    query = sa.select(b.applied).where(b.token == token)
    applied = [bool(a) for (a,) in conn.execute(query.with_for_update() if lock else query)]
    if any(applied):
        return False
    conn.execute(sa.update(rollup_batches).where(b.token == token).values(applied=True))
    return True


def mark_gap(conn: Connection, found: Segments) -> None:
    """Mark the segments as missing a batch for good (one written to the event log while
    this database could not be reached, never rolled up): a pending row that is stale at
    once, so looks read the event log until the segment ends."""
    rows = [{"token": f"gap-{uuid.uuid4().hex}", "feature": feature, "since": segment.since,
             "at": 0.0} for feature, spans in sorted(found.items()) for segment in spans]
    if rows:
        conn.execute(sa.insert(rollup_batches), rows)


def release(conn: Connection, token: str) -> None:
    """Forget a batch that was not written (ClickHouse refused its rows)."""
    b = rollup_batches.c
    conn.execute(rollup_batches.delete().where(b.token == token, ~b.applied))


def pending(conn: Connection, feature: str, since: float, *, before: float | None = None,
            ) -> bool:
    """Whether a batch of the segment is pending (reserved before `before`, if given)."""
    b = rollup_batches.c
    where = [b.feature == feature, b.since == since, ~b.applied]
    if before is not None:
        where.append(b.at < before)
    return conn.scalar(sa.select(b.token).where(*where).limit(1)) is not None


def stale(conn: Connection, feature: str, since: float, now: float) -> bool:
    """Whether a batch of the segment has been pending for `STALE_AFTER_S`: it may be in the
    event log and not in the roll-up, so the roll-up does not cover the segment."""
    return pending(conn, feature, since, before=now - STALE_AFTER_S)


def prune(conn: Connection, now: float) -> int:
    """Delete applied tokens older than `KEEP_APPLIED_S` and the rows of finished segments;
    rows deleted."""
    b, seg = rollup_batches.c, rollup_segments.c
    open_ = sa.select(seg.since).where(seg.feature == b.feature, seg.since == b.since)
    gone = conn.execute(rollup_batches.delete().where(sa.or_(
        sa.and_(b.applied, b.at < now - KEEP_APPLIED_S), ~open_.exists())))
    return int(gone.rowcount)


__all__ = ["KEEP_APPLIED_S", "STALE_AFTER_S", "mark_gap", "pending", "prune", "release",
           "reserve", "settle", "stale"]
