"""The database sink: one transaction per batch, one executemany per table.

A batch is all-or-nothing: either every row of it is committed or none is (the writer then
retries the whole batch), so a crash or a failed write never leaves a partial batch behind.
Event ids are primary keys: if a commit succeeded but its acknowledgement was lost, the retry
fails on the key instead of writing duplicate rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import insert

from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.tables import feedback_events, request_events

if TYPE_CHECKING:
    from rampway.store import Store


class SqlEventSink:
    """Writes event batches with SQLAlchemy Core (no ORM: this is a bulk path)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._insert_requests = insert(request_events)
        self._insert_feedback = insert(feedback_events)

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        if not requests and not feedback:
            return
        with self._store.transaction() as conn:
            if requests:
                conn.execute(self._insert_requests, [e.row() for e in requests])
            if feedback:
                conn.execute(self._insert_feedback, [e.row() for e in feedback])


__all__ = ["SqlEventSink"]
