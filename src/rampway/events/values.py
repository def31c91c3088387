"""The ids of request events' JSON values (attributes, flag evaluations) in `event_values`,
and of their shapes (the descriptive SHAPE_FIELDS: source, model, finish reason, …) in
`event_shapes`.

A request's attributes and flag evaluations were the bulk of its row: ~235 of the 513 bytes a
PostgreSQL row took in the heap (bench/event_size.py), the same few values again and again (a
handful of plans and regions; one outcome per flag rule). The sink stores each distinct value
once in `event_values` and a row keeps its 4-byte id (`request_events.flags_id`, …);
`rampway.events.tables.request_event_rows` joins them back for readers.

Per batch the sink encodes each value's JSON text (the very text the JSON column held before),
looks the texts up in a memo of ids it has seen committed, and finds or adds the rest in one
`INSERT … ON CONFLICT (digest) DO UPDATE SET last_used …` and one `SELECT`, in the batch's own
transaction: two gateways adding the same value at once both end up with the one row (the
second waits for the first's commit, inserts nothing, then reads it). Ids join the memo only
once the batch has committed, so a rolled-back batch never leaves the memo an id that does not
exist.

Retention deletes the rows no event uses any more (`rampway.events.dimensions`), by their
`last_used`: so every row a batch finds or adds gets the batch's stamp (the later of the clock
and its newest event's `ts`) as `last_used`, under the row's lock until the batch commits, and
the memo is only trusted for `REFRESH_S`: once its oldest entry is older than that, it starts
over and the next batch finds (and stamps) its values again. The argument that a deleted id is
never written again is in `rampway.events.dimensions`.

A value the database refuses (PostgreSQL: `\\u0000` in JSONB) fails the batch in the value's
INSERT with the same DataError the row's COPY raised before: the writer splits the batch and
dead-letters that row as before.

Shapes go the same way (`ShapeIds`, `events_0011`), keyed by the tuple of an event's
SHAPE_FIELDS instead of a JSON text: a request row keeps `shape_id` instead of ~76 bytes of
short strings that repeat across requests.

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
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from rampway.events.tables import SHAPE_FIELDS, VALUE_FIELDS, event_shapes, event_values

#: How many committed values the memo keeps before starting over.
MAX_ENTRIES = 65_536
#: How long the memo's ids are used without the database: older, it starts over (and the rows
#: found again get a new `last_used`), so a row's `last_used` is never more than this before
#: a batch that used it (see `rampway.events.dimensions`). Once an hour per distinct value
#: and process: a few statements an hour.
REFRESH_S = 3600.0
_CHUNK = 500  # digests per SELECT


def digest(text: str) -> str:
    """The key of a value's JSON text in `event_values` (SHA-256, 32 hex digits).

    >>> digest('{"plan": "pro"}')
    'c8e1e9d94b4f2da9009978e02dc16327'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Ids:
    """What both kinds of ids share: the memo of committed ids, the batch's ids by the object
    they were prepared for, and the find-or-add of the keys the memo lacks.

    `_since`: the earliest stamp of the batches that put the memo's ids there (None: empty);
    every id in the memo has a `last_used` at or after it."""

    def __init__(self, dialect: Dialect, table: sa.Table, max_entries: int,
                 ts: Callable[[Any], float], clock: Callable[[], float]) -> None:
        self._table = table
        self._insert = _upsert_touching(dialect, table)
        self._known: dict[Hashable, int] = {}
        self._added: dict[Hashable, int] = {}
        self._batch: dict[Hashable, int] = {}
        self._since: float | None = None
        self._stamp = 0.0
        self._ts, self._clock = ts, clock
        self.max_entries = max_entries

    def committed(self) -> None:
        """The prepared batch committed: remember the ids it added."""
        if len(self._known) + len(self._added) > self.max_entries:
            self._known.clear()
            self._since = None
        if self._added:
            self._known.update(self._added)
            self._since = self._stamp if self._since is None else min(self._since, self._stamp)
        self._added, self._batch = {}, {}

    def stamp(self, events: Sequence[Any]) -> float:
        """What the rows `events` use get as `last_used`: the later of the clock and their
        newest `ts` (an event stamped ahead of the clock must not outlive its values)."""
        return max(self._clock(), max(map(self._ts, events), default=0.0))

    def _start(self, events: Sequence[Any], stamp: float | None) -> None:
        """The batch's stamp, and a memo started over if its oldest ids are too old for it."""
        self._stamp = self.stamp(events) if stamp is None else stamp
        if self._since is not None and self._since < self._stamp - REFRESH_S:
            self._known.clear()
            self._since = None

    def _resolve(self, conn: Connection, keys: Mapping[Any, Hashable],
                 row: Callable[[Any], dict[str, Any]]) -> None:
        """`keys`: what `id_of` is asked → its key in the memo; `row`: a key's new row (with
        its `digest`)."""
        known = self._known
        missing = {k for k in keys.values() if k not in known}
        self._added = self._find_or_add(conn, missing, row) if missing else {}
        added = self._added
        self._batch = {i: known[k] if k in known else added[k] for i, k in keys.items()}

    def _find_or_add(self, conn: Connection, keys: Iterable[Hashable],
                     row: Callable[[Any], dict[str, Any]]) -> dict[Hashable, int]:
        by_digest = {}
        stamp = self._stamp
        for key in keys:
            new = row(key)
            new["last_used"] = stamp
            by_digest[new["digest"]] = (key, new)
        # in digest order: two gateways adding the same new values lock their unique-index
        # entries in one order, never waiting on each other crosswise (a deadlock on PostgreSQL).
        # An existing row is locked (and its `last_used` moved up) until the batch commits:
        # retention cannot delete it meanwhile, and one it deleted first is added anew.
        conn.execute(self._insert, [by_digest[d][1] for d in sorted(by_digest)])
        table = self._table
        found: dict[Hashable, int] = {}
        digests = list(by_digest)
        for start in range(0, len(digests), _CHUNK):
            rows = conn.execute(sa.select(table.c.digest, table.c.id).where(
                table.c.digest.in_(digests[start:start + _CHUNK])))
            found.update((by_digest[d][0], int(i)) for d, i in rows)
        return found


class ValueIds(_Ids):
    """Finds or adds the `event_values` ids of a batch's values (see the module docstring)."""

    def __init__(self, dialect: Dialect, encoders: Mapping[str, Callable[[Any], str]],
                 max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.time) -> None:
        """`encoders`: field → its JSON encoder (every field of VALUE_FIELDS)."""
        super().__init__(dialect, event_values, max_entries, operator.attrgetter("ts"), clock)
        self._fields = tuple((operator.attrgetter(f), encoders[f]) for f in VALUE_FIELDS)

    def prepare(self, conn: Connection, events: Sequence[Any],
                stamp: float | None = None) -> None:
        """Find (or add) the ids of every value `events` hold, for `id_of`; `stamp`: their
        `stamp(events)`, when already known."""
        self._start(events, stamp)
        texts: dict[int, str] = {}  # id(value) → its text; the values live as long as `events`
        for get, encode in self._fields:
            for event in events:
                value = get(event)
                if value is not None and id(value) not in texts:
                    texts[id(value)] = encode(value)
        self._resolve(conn, texts, _value_row)

    def id_of(self, value: Any) -> int:
        """The id of a (non-None) value of the events last prepared."""
        return self._batch[id(value)]


def _value_row(text: str) -> dict[str, Any]:
    return {"digest": digest(text), "value": json.loads(text)}


class ShapeIds(_Ids):
    """Finds or adds the `event_shapes` ids of a batch's events: `id_of(event.id)` is the id of
    the event's SHAPE_FIELDS' combination. Keyed by the tuple of their values, the memo as
    `ValueIds`'. Asked by the event's id, which the sink's row writer reads anyway (a dict
    lookup on a string whose hash is cached: ~1 us per row less than passing the event).

    Example:
        shapes = ShapeIds(engine.dialect)
        with store.transaction() as conn:
            shapes.prepare(conn, events)
            conn.execute(..., shapes.id_of(events[0].id))
        shapes.committed()
    """

    def __init__(self, dialect: Dialect, max_entries: int = MAX_ENTRIES,
                 shape: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*SHAPE_FIELDS),
                 key: Callable[[Any], Hashable] = operator.attrgetter("id"),
                 ts: Callable[[Any], float] = operator.attrgetter("ts"),
                 clock: Callable[[], float] = time.time) -> None:
        """`shape`: an event's SHAPE_FIELDS values, in that order; `key`: its id; `ts`: its
        time (by default all read from its attributes)."""
        super().__init__(dialect, event_shapes, max_entries, ts, clock)
        self._shape, self._key = shape, key

    def prepare(self, conn: Connection, events: Sequence[Any],
                stamp: float | None = None) -> None:
        """Find (or add) the shape ids of `events`, for `id_of` (`stamp` as `ValueIds'`).

        Two events of the batch with one id and different shapes would get one shape: a
        ValueError instead, which the writer treats as a bad batch and splits (each alone is
        written; a repeated id is refused by the id index as before)."""
        self._start(events, stamp)
        shape, key = self._shape, self._key
        shapes = {key(e): shape(e) for e in events}
        if len(shapes) < len(events) and any(shapes[key(e)] != shape(e) for e in events):
            raise ValueError("events of one batch share an id but not their shape")
        self._resolve(conn, shapes, _shape_row)

    def id_of(self, event_id: Hashable) -> int:
        """The shape id of the event of the last prepared batch with this id."""
        return self._batch[event_id]


def _shape_row(shape: tuple[Any, ...]) -> dict[str, Any]:
    return {"digest": digest(json.dumps(list(shape))), **dict(zip(SHAPE_FIELDS, shape,
                                                                  strict=True))}


def with_shape_ids(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows given as `request_event_fields` (with the SHAPE_FIELDS) as rows of `request_events`:
    the shape's fields replaced by its `shape_id`, found or added in `conn`'s transaction. For
    code that inserts plain dicts (benches, tests); the sink does the same from its events.

    Example:
        conn.execute(request_events.insert(), with_shape_ids(conn, [{"id": "req_1", ...}]))
    """
    given = list(rows)
    ids = ShapeIds(conn.dialect, shape=_shape_of_mapping, key=operator.itemgetter("id"),
                   ts=_ts_of_mapping)
    ids.prepare(conn, given)
    return [{k: v for k, v in row.items() if k not in SHAPE_FIELDS}
            | {"shape_id": ids.id_of(row["id"])} for row in given]


def _shape_of_mapping(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(name) for name in SHAPE_FIELDS)


def _ts_of_mapping(row: Mapping[str, Any]) -> float:
    return float(row.get("ts") or 0.0)


def _upsert_touching(dialect: Dialect, table: sa.Table) -> Any:
    """`INSERT INTO <table> … ON CONFLICT (digest) DO UPDATE SET last_used = <the new one>
    WHERE it is later` for this dialect. PostgreSQL locks the existing row even where the
    WHERE leaves it as it is ("all rows will be locked when the ON CONFLICT DO UPDATE action
    is taken"); SQLite's writer holds the database's write lock anyway."""
    statement: Any
    if dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table)
    elif dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table)
    else:
        raise ValueError(f"event values need PostgreSQL or SQLite, not {dialect.name}")
    new = statement.excluded.last_used
    return statement.on_conflict_do_update(
        index_elements=["digest"], set_={"last_used": new},
        where=sa.or_(table.c.last_used.is_(None), table.c.last_used < new))


__all__ = ["MAX_ENTRIES", "REFRESH_S", "ShapeIds", "ValueIds", "digest", "with_shape_ids"]
