"""The database sink: one transaction per batch, one executemany per table.

A batch is all-or-nothing: either every row of it is committed or none is (the writer then
retries the whole batch), so a crash or a failed write never leaves a partial batch behind.
Event ids are primary keys: if a commit succeeded but its acknowledgement was lost, the retry
fails on the key instead of writing duplicate rows.

This is the one place where the event log bypasses SQLAlchemy's per-row parameter processing.
The writer thread shares the interpreter lock with the gateway's event loop, so every
millisecond of Python it runs is a millisecond a request may wait: `RowWriter` compiles the
INSERT once for the engine's dialect (quoting, placeholders and PostgreSQL casts as SQLAlchemy
renders them) and hands the driver plain tuples read from the events' slots in C
(`operator.attrgetter`); only JSON columns are serialized in Python. That is about a third of
the CPU of `conn.execute(insert(table), [asdict(e) …])` per batch. An absent JSON value is
stored as SQL NULL.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection, Dialect

from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.tables import feedback_events, request_events

if TYPE_CHECKING:
    from rampway.store import Store


class RowWriter:
    """Inserts objects whose attributes are named like `table`'s columns, many rows at once.

    Example:
        rows = RowWriter(request_events, engine.dialect)
        with store.transaction() as conn:
            rows.insert(conn, events)
    """

    def __init__(self, table: Table, dialect: Dialect) -> None:
        compiled = insert(table).compile(dialect=dialect)
        names = list(compiled.positiontup or ()) if dialect.positional else list(compiled.params)
        self.sql = str(compiled)
        self.names = tuple(names)
        self._values: Callable[[Any], tuple[Any, ...]] = _getter(names)
        self._json = tuple(
            i for i, name in enumerate(names) if isinstance(table.c[name].type, JSON)
        )
        self._named = not dialect.positional

    def params(self, obj: Any) -> tuple[Any, ...] | dict[str, Any]:
        """One row's parameters in the shape the driver expects (tuple, or dict if named)."""
        values = self._values(obj)
        if self._json:
            values = _with_json(values, self._json)
        return dict(zip(self.names, values, strict=True)) if self._named else values

    def insert(self, conn: Connection, objs: Sequence[Any]) -> None:
        if objs:
            params = self.params
            conn.exec_driver_sql(self.sql, [params(o) for o in objs])


def _getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A C-level reader of those attributes, always returning a tuple (even for one name)."""
    get = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda obj: (get(obj),)
    return get


def _with_json(values: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    out = list(values)
    for i in positions:
        if out[i] is not None:
            out[i] = json.dumps(out[i])
    return tuple(out)


class SqlEventSink:
    """Writes event batches to the store's `request_events` and `feedback_events` tables."""

    def __init__(self, store: Store) -> None:
        self._store = store
        dialect = store.engine.dialect
        self._requests = RowWriter(request_events, dialect)
        self._feedback = RowWriter(feedback_events, dialect)

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        if not requests and not feedback:
            return
        with self._store.transaction() as conn:
            self._requests.insert(conn, requests)
            self._feedback.insert(conn, feedback)


__all__ = ["RowWriter", "SqlEventSink"]
