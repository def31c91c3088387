"""Three indexes of `request_events` that no query needs are dropped: `(unit_hash)`,
`(session_hash)` and `(release_id, ts)`. They were 108 of a request row's 506 bytes on
PostgreSQL (bench/event_size.py: 12.9 + 24.5 + 70.2) and each cost every insert a btree update.

Every reader of the request log filters by feature and a time window (`(feature, ts)`: the
judge's totals and extract, the roll-up, experiment analysis, health, the experiment
fingerprint), by time alone (`(ts)`: the requests page's newest rows, retention), or by `id`
(feedback and shadow pairs joined to their request: each partition's unique `(id)`). Units are
grouped by and joined on, never looked up in the request log (per-unit feedback is looked up
in `feedback_events`, whose unit indexes stay). The one `release_id` lookup, model drift's last
answer before a window, also names the release's feature, so it walks `(feature, ts)`.

PostgreSQL: the table (its partitions with it) is locked once, in the mode `DROP INDEX` needs
anyway (the downgrade: `CREATE INDEX`'s), before the first statement: readers and gateways
wait for the migration as a whole rather than between its statements, and no lock is upgraded
on the way (no deadlock with a reader that holds a partition). Dropping an index is a catalog
change: instant whatever the table's size. The lock is asked for in tries of `LOCK_WAIT_S`
(`_lock`), so a long query holding the table does not make everyone queue behind the
migration for as long as it runs.
The downgrade builds the three indexes again (a scan of the table per index).

Revision ID: events_0012
Revises: rollout_0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "events_0012"
down_revision = "rollout_0006"
branch_labels = None
depends_on = None

# name → columns, as `events_0001` and `events_0007` created them
_INDEXES = {
    "ix_request_events_release_ts": ["release_id", "ts"],
    "ix_request_events_unit": ["unit_hash"],
    "ix_request_events_session": ["session_hash"],
}


def upgrade() -> None:
    _lock("ACCESS EXCLUSIVE")  # what DROP INDEX takes
    for name in _INDEXES:
        op.drop_index(name, table_name="request_events")


def downgrade() -> None:
    _lock("SHARE")  # what CREATE INDEX takes: readers go on, writers wait
    for name, columns in _INDEXES.items():
        op.create_index(name, "request_events", columns)


#: How long one try waits for the table's lock, and how many tries (a second apart) before the
#: upgrade gives up: queued for a lock, the migration would make every gateway's insert and
#: every reader queue behind it for as long as the query it waits for runs (an analysis
#: of minutes); waiting in short tries, it holds them up at most LOCK_WAIT_S at a time.
LOCK_WAIT_S = 2
LOCK_TRIES = 60


def _lock(mode: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return  # SQLite's first DDL statement takes its database's write lock by itself
    before = conn.execute(sa.text("SHOW lock_timeout")).scalar()
    for _ in range(LOCK_TRIES):
        try:
            with conn.begin_nested():  # a timed-out try rolls back to here, not the migration
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_S}s'"))
                conn.execute(sa.text(f"LOCK TABLE request_events IN {mode} MODE"))
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # not lock_not_available
                raise
            time.sleep(1)
            continue
        # the lock stays to the migration's end; later statements wait as long as they need
        conn.execute(sa.text("SELECT set_config('lock_timeout', :v, true)"), {"v": before})
        return
    raise RuntimeError(f"events_0012: request_events stayed locked by other sessions for "
                       f"{LOCK_TRIES} tries of {LOCK_WAIT_S} s; run the upgrade again when "
                       f"its long queries are done")
