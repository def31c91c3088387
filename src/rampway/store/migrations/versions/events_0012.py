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
change: instant whatever the table's size.
The downgrade builds the three indexes again (a scan of the table per index).

Revision ID: events_0012
Revises: rollout_0006
Create Date: 2026-12-07
"""

from __future__ import annotations

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


def _lock(mode: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        # SQLite's first DDL statement takes its database's write lock by itself
        conn.execute(sa.text(f"LOCK TABLE request_events IN {mode} MODE"))
