"""The ids of request events' JSON values (attributes, flag evaluations) in `event_values`.

A request's attributes and flag evaluations were the bulk of its row: ~235 of the 513 bytes a
PostgreSQL row took in the heap (bench/event_size.py), the same few values again and again (a
handful of plans and regions; one outcome per flag rule). The sink stores each distinct value
once in `event_values` and a row keeps its 4-byte id (`request_events.flags_id`, …);
`rampway.events.tables.request_event_rows` joins them back for readers.

Per batch the sink encodes each value's JSON text (the very text the JSON column held before),
looks the texts up in a memo of ids it has seen committed, and finds or adds the rest in one
`INSERT … ON CONFLICT (digest) DO NOTHING` and one `SELECT`, in the batch's own transaction:
two gateways adding the same value at once both end up with the one row (the second waits for
the first's commit, inserts nothing, then reads it). Ids join the memo only once the batch has
committed, so a rolled-back batch never leaves the memo an id that does not exist.

A value the database refuses (PostgreSQL: `\\u0000` in JSONB) fails the batch in the value's
INSERT with the same DataError the row's COPY raised before: the writer splits the batch and
dead-letters that row as before.

Example:
    values = ValueIds(engine.dialect, {"flags": FlagsJson()})
    with store.transaction() as conn:
        values.prepare(conn, events)        # ids of this batch's values
        conn.execute(..., values.id_of(e.flags))
    values.committed()
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from rampway.events.tables import VALUE_FIELDS, event_values

#: How many committed values the memo keeps before starting over.
MAX_ENTRIES = 65_536
_CHUNK = 500  # digests per SELECT


def digest(text: str) -> str:
    """The key of a value's JSON text in `event_values` (SHA-256, 32 hex digits).

    >>> digest('{"plan": "pro"}')
    'c8e1e9d94b4f2da9009978e02dc16327'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class ValueIds:
    """Finds or adds the `event_values` ids of a batch's values (see the module docstring)."""

    def __init__(self, dialect: Dialect, encoders: Mapping[str, Callable[[Any], str]],
                 max_entries: int = MAX_ENTRIES) -> None:
        """`encoders`: field → its JSON encoder (every field of VALUE_FIELDS)."""
        self._fields = tuple((operator.attrgetter(f), encoders[f]) for f in VALUE_FIELDS)
        self._insert = _insert_ignoring(dialect)
        self._known: dict[str, int] = {}
        self._added: dict[str, int] = {}
        self._batch: dict[int, int] = {}
        self.max_entries = max_entries

    def prepare(self, conn: Connection, events: Sequence[Any]) -> None:
        """Find (or add) the ids of every value `events` hold, for `id_of`."""
        texts: dict[int, str] = {}  # id(value) → its text; the values live as long as `events`
        for get, encode in self._fields:
            for event in events:
                value = get(event)
                if value is not None and id(value) not in texts:
                    texts[id(value)] = encode(value)
        known = self._known
        missing = {t for t in texts.values() if t not in known}
        self._added = self._find_or_add(conn, missing) if missing else {}
        added = self._added
        self._batch = {k: known[t] if t in known else added[t] for k, t in texts.items()}

    def id_of(self, value: Any) -> int:
        """The id of a (non-None) value of the events last prepared."""
        return self._batch[id(value)]

    def committed(self) -> None:
        """The prepared batch committed: remember the ids it added."""
        if len(self._known) + len(self._added) > self.max_entries:
            self._known.clear()
        self._known.update(self._added)
        self._added, self._batch = {}, {}

    def _find_or_add(self, conn: Connection, texts: Iterable[str]) -> dict[str, int]:
        by_digest = {digest(t): t for t in texts}
        conn.execute(self._insert, [{"digest": d, "value": json.loads(t)}
                                    for d, t in by_digest.items()])
        found: dict[str, int] = {}
        keys = list(by_digest)
        for start in range(0, len(keys), _CHUNK):
            rows = conn.execute(sa.select(event_values.c.digest, event_values.c.id).where(
                event_values.c.digest.in_(keys[start:start + _CHUNK])))
            found.update((by_digest[d], int(i)) for d, i in rows)
        return found


def _insert_ignoring(dialect: Dialect) -> Any:
    """`INSERT INTO event_values … ON CONFLICT (digest) DO NOTHING` for this dialect."""
    if dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(event_values).on_conflict_do_nothing(index_elements=["digest"])
    if dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(event_values).on_conflict_do_nothing(index_elements=["digest"])
    raise ValueError(f"event values need PostgreSQL or SQLite, not {dialect.name}")


__all__ = ["MAX_ENTRIES", "ValueIds", "digest"]
