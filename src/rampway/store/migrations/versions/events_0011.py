"""A request's descriptive columns are stored once per distinct combination in `event_shapes`,
and `request_events` keeps its id: `source`, `protocol`, `provider`, `model`, `served_model`,
`system_fingerprint`, `finish_reason` and `error_code` → `shape_id`. No analysis filters or
groups by them, and they were ~76 of a PostgreSQL row's 340 heap bytes on rows as the gateway
writes them (bench/event_size.py). Readers of whole rows join them back through
`rampway.events.tables.request_event_rows`.

Existing rows are converted: each distinct combination is added to `event_shapes` (under the
digest the sink computes, `rampway.events.values`), then every row gets its id:

* PostgreSQL: one `ALTER TABLE` that turns `source` into the integer id (`TYPE integer USING`
  a temporary lookup function over the row's eight columns) and drops the other seven, so each
  partition is rewritten once and the dropped strings leave the rewritten rows. A rewrite of
  the whole event table under its lock, like `events_0010`: upgrade a large store in a quiet
  hour.
* SQLite: `shape_id` filled by `UPDATE … FROM`, the eight columns dropped (the table rebuilt).

The downgrade puts the eight columns back (at the table's end) from `event_shapes` and drops it.

Revision ID: events_0011
Revises: events_0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "events_0011"
down_revision = "events_0010"
branch_labels = None
depends_on = None

# name → (type, nullable), as `events_0001`/`events_0003` created them
_COLUMNS = {
    "source": (sa.String(16), False),
    "protocol": (sa.String(16), False),
    "provider": (sa.String(100), True),
    "model": (sa.String(200), True),
    "served_model": (sa.String(200), True),
    "system_fingerprint": (sa.String(100), True),
    "finish_reason": (sa.String(32), True),
    "error_code": (sa.String(64), True),
}
_NAMES = tuple(_COLUMNS)
_LIST = ", ".join(_NAMES)
# the same combination: NULL matches NULL (SQLite's IS, PostgreSQL's IS NOT DISTINCT FROM)
_SAME = {"sqlite": "IS", "postgresql": "IS NOT DISTINCT FROM"}


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "event_shapes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(32), nullable=False),
        *(sa.Column(name, kind, nullable=nullable) for name, (kind, nullable) in _COLUMNS.items()),
        sa.PrimaryKeyConstraint("id", name="pk_event_shapes"),
        sa.UniqueConstraint("digest", name="uq_event_shapes_digest"),
    )
    if conn.dialect.name == "postgresql":
        # writers wait until the migration commits: a combination a gateway inserted between
        # reading the shapes and rewriting the rows would have no shape (SQLite's first write
        # above already holds its database's write lock)
        _run(conn, "LOCK TABLE request_events IN SHARE MODE")
    _add_shapes(conn)
    same = _SAME[conn.dialect.name]
    if conn.dialect.name == "postgresql":
        args = ", ".join(f"{name} text" for name in _NAMES)
        match = " AND ".join(f"s.{name} {same} ${i}" for i, name in enumerate(_NAMES, 1))
        _run(conn,
             f"CREATE FUNCTION pg_temp.event_shape_id({args}) RETURNS integer STABLE "  # noqa: S608
             f"LANGUAGE sql AS 'SELECT s.id FROM event_shapes s WHERE {match} "
             "ORDER BY s.id LIMIT 1'",
             f"ALTER TABLE request_events ALTER COLUMN source TYPE integer "  # noqa: S608
             f"USING pg_temp.event_shape_id({_LIST}), "
             + ", ".join(f"DROP COLUMN {name}" for name in _NAMES[1:]),
             "ALTER TABLE request_events ALTER COLUMN source DROP NOT NULL",
             "ALTER TABLE request_events RENAME COLUMN source TO shape_id",
             f"DROP FUNCTION pg_temp.event_shape_id({', '.join(['text'] * len(_NAMES))})")
        return
    op.add_column("request_events", sa.Column("shape_id", sa.Integer))
    match = " AND ".join(f"s.{name} {same} request_events.{name}" for name in _NAMES)
    _run(conn, f"UPDATE request_events SET shape_id = s.id FROM event_shapes s "  # noqa: S608
               f"WHERE {match}")
    with op.batch_alter_table("request_events") as batch:
        for name in _NAMES:
            batch.drop_column(name)


def _add_shapes(conn: Connection) -> None:
    """Every distinct combination of the columns into `event_shapes`, under the sink's digest
    (SHA-256 of the JSON list of the values, `rampway.events.values`)."""
    shapes = conn.execute(sa.text(f"SELECT DISTINCT {_LIST} FROM request_events")).all()  # noqa: S608
    rows = []
    for shape in shapes:
        text = json.dumps(list(shape))
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        rows.append({"digest": key, **dict(zip(_NAMES, shape, strict=True))})
    if rows:
        marks = ", ".join(f":{name}" for name in _NAMES)
        conn.execute(sa.text(f"INSERT INTO event_shapes (digest, {_LIST}) "  # noqa: S608
                             f"VALUES (:digest, {marks})"), rows)


def downgrade() -> None:
    conn = op.get_bind()
    for name, (kind, _nullable) in _COLUMNS.items():
        op.add_column("request_events", sa.Column(name, kind, nullable=True))
    assigned = ", ".join(f"{name} = s.{name}" for name in _NAMES)
    _run(conn, f"UPDATE request_events SET {assigned} FROM event_shapes s "  # noqa: S608
               "WHERE s.id = request_events.shape_id")
    with op.batch_alter_table("request_events") as batch:
        for name, (kind, nullable) in _COLUMNS.items():
            if not nullable:
                batch.alter_column(name, existing_type=kind, nullable=False)
        batch.drop_column("shape_id")
    op.drop_table("event_shapes")


def _run(conn: Connection, *statements: str) -> None:
    for statement in statements:
        conn.execute(sa.text(statement))
