"""A request's attributes and flags are stored once per distinct value in `event_values`, and
`request_events` keeps their ids: `attributes` → `attributes_id`, `flags` → `flags_id`
(integers; NULL where the value was). ~235 of a PostgreSQL row's 513 heap bytes were these two
JSONB values (bench/event_size.py). Readers of whole rows join them back through
`rampway.events.tables.request_event_rows`.

Existing rows are converted: each distinct value is added to `event_values` (its digest taken
over its JSON text as the database gives it back: for rows written before, the sink may add the
same value again under the digest of its own encoding, one more small row per such value), then
every row gets its ids:

* PostgreSQL: one `ALTER COLUMN … TYPE integer USING` per column pair, through a temporary
  lookup function over a temporary hash index on the values, so each partition is rewritten
  once and the old JSON is gone from the rewritten rows (an UPDATE would keep it as a dropped
  column's bytes). A rewrite of the whole event table under its lock: like `events_0009`'s
  read, upgrade a large store in a quiet hour (`bench/event_size.py --migration`).
* SQLite: new columns filled by `UPDATE … FROM`, the old ones dropped (the table is rebuilt).

The downgrade does the same the other way round and drops `event_values`.

Revision ID: events_0010
Revises: events_0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

revision = "events_0010"
down_revision = "events_0009"
branch_labels = None
depends_on = None

_FIELDS = ("attributes", "flags")


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "event_values",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("value", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_values"),
        sa.UniqueConstraint("digest", name="uq_event_values_digest"),
    )
    for field in _FIELDS:
        _add_values(conn, field)
    if conn.dialect.name == "postgresql":
        _run(conn,
             "CREATE INDEX event_values_by_value ON event_values USING hash (value)",
             "CREATE FUNCTION pg_temp.event_value_id(v jsonb) RETURNS integer STABLE "
             "LANGUAGE sql AS 'SELECT id FROM event_values WHERE value = v "
             "ORDER BY id LIMIT 1'",
             "ALTER TABLE request_events "
             + ", ".join(f"ALTER COLUMN {f} TYPE integer USING pg_temp.event_value_id({f})"
                         for f in _FIELDS),
             *(f"ALTER TABLE request_events RENAME COLUMN {f} TO {f}_id" for f in _FIELDS),
             "DROP FUNCTION pg_temp.event_value_id(jsonb)",
             "DROP INDEX event_values_by_value")
        return
    for field in _FIELDS:
        op.add_column("request_events", sa.Column(f"{field}_id", sa.Integer))
        _run(conn, f"UPDATE request_events SET {field}_id = v.id FROM event_values v "  # noqa: S608
                   f"WHERE v.value = request_events.{field}")
    with op.batch_alter_table("request_events") as batch:
        for field in _FIELDS:
            batch.drop_column(field)


def _add_values(conn: Connection, field: str) -> None:
    """Every distinct value of `field` into `event_values` (constant names only)."""
    texts = conn.scalars(sa.text(
        f"SELECT DISTINCT CAST({field} AS TEXT) FROM request_events "  # noqa: S608
        f"WHERE {field} IS NOT NULL")).all()
    known = set(conn.scalars(sa.text("SELECT digest FROM event_values")))
    rows = [{"d": d, "v": t} for t in texts
            if (d := hashlib.sha256(str(t).encode("utf-8", "surrogatepass")).hexdigest()[:32])
            not in known]
    if rows:
        cast = "CAST(:v AS jsonb)" if conn.dialect.name == "postgresql" else ":v"
        conn.execute(sa.text(f"INSERT INTO event_values (digest, value) VALUES (:d, {cast})"),  # noqa: S608
                     rows)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _run(conn,
             "CREATE FUNCTION pg_temp.event_value(i integer) RETURNS jsonb STABLE "
             "LANGUAGE sql AS 'SELECT value FROM event_values WHERE id = i'",
             *(f"ALTER TABLE request_events RENAME COLUMN {f}_id TO {f}" for f in _FIELDS),
             "ALTER TABLE request_events "
             + ", ".join(f"ALTER COLUMN {f} TYPE jsonb USING pg_temp.event_value({f})"
                         for f in _FIELDS),
             "DROP FUNCTION pg_temp.event_value(integer)")
    else:
        for field in _FIELDS:
            op.add_column("request_events", sa.Column(field, sa.JSON()))
            _run(conn, f"UPDATE request_events SET {field} = v.value "  # noqa: S608
                       f"FROM event_values v WHERE v.id = request_events.{field}_id")
        with op.batch_alter_table("request_events") as batch:
            for field in _FIELDS:
                batch.drop_column(f"{field}_id")
    op.drop_table("event_values")


def _run(conn: Connection, *statements: str) -> None:
    for statement in statements:
        conn.execute(sa.text(statement))
