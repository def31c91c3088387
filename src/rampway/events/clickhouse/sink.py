"""The ClickHouse sink: each batch is one column-oriented insert per event table.

The writer (`rampway.events.writer.EventWriter`) drives it exactly like the SQL sink — same
batches, retries, poison isolation and dead letter — and the columns carry the same values:
they are read off the events with the SQL sink's getters and JSON encoders
(`rampway.events.sink`), so a row in ClickHouse equals the row PostgreSQL would hold.

A batch's insert is atomic per table (one block); a failure between the request and the
feedback insert leaves the requests written and the retry writes them again. ClickHouse has
no primary key to refuse that duplicate: a batch is retried only after a failure, so
duplicates are rare, and the server can remove them (ReplicatedMergeTree with
`async_insert_deduplicate`, see the README).

The overview's health minutes, which the SQL sink keeps in the main database, are not kept:
their reader goes to ClickHouse itself. The rollout judge's roll-up is kept, given the control
store (`ClickHouseSink(backend, store)`, as the gateway does): the same roll-up as the SQL
sink's (`rampway.rollout.rollup`), in the control database, so a look reads two rows there
whatever the ClickHouse table holds. The insert and the roll-up are not one transaction, so a
batch that touches a rollout step's segment goes reserve → insert → roll up, through the batch
ledger (`rampway.rollout.batches`): rolled up once, after ClickHouse has it, also when retried.
Features without a segment cost one small query per batch.
"""

from __future__ import annotations

import hashlib
import logging
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table

from rampway.errors import StoreError
from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.schema import column_type
from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.sink import FlagsJson, _dumps
from rampway.events.tables import feedback_events, request_event_fields
from rampway.store.schema import is_json

if TYPE_CHECKING:
    from rampway.rollout.rollup import Rollup
    from rampway.rollout.segments import Segments
    from rampway.store import Store

log = logging.getLogger("rampway.events")


class ColumnBuilder:
    """The columns of `table` for a batch of objects named like its columns.

    Column by column (`map` of one attribute getter over the batch, at C speed), not row by
    row: the rows' tuples transposed into columns cost a third of the sink's time."""

    def __init__(self, table: Table,
                 encoders: Mapping[str, Callable[[Any], str]] | None = None) -> None:
        self.table = table.name
        self.types = {c.name: column_type(c) for c in table.columns}
        special = encoders or {}
        self._getters = [operator.attrgetter(name) for name in self.types]
        self._json = {
            i: special.get(name, _dumps)
            for i, name in enumerate(self.types) if is_json(table.c[name].type)
        }

    def columns(self, objs: Sequence[Any]) -> list[list[Any]]:
        columns = [list(map(get, objs)) for get in self._getters]
        for i, encode in self._json.items():
            columns[i] = [None if v is None else encode(v) for v in columns[i]]
        return columns


class ClickHouseSink:
    """`EventSink` writing to a ClickHouse backend (a server or the embedded engine)."""

    def __init__(self, backend: Backend, store: Store | None = None) -> None:
        """`store`: the control database, to keep the judge's roll-up in (None: not kept)."""
        self._backend = backend
        self._requests = ColumnBuilder(request_event_fields, {"flags": FlagsJson()})
        self._feedback = ColumnBuilder(feedback_events)
        self._store = store
        self._rollup: Rollup | None = None
        if store is not None:
            # imported now, not in the first batch (see `SqlEventSink.__init__`)
            from rampway.rollout import batches, segments  # noqa: F401
        self._pg = store is not None and store.engine.dialect.name == "postgresql"
        self._refused: str | None = None  # the token whose reservation failed last
        self._gaps: set[str] = set()  # features with a batch written but not rolled up

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        if requests:
            token, store = batch_token(requests), self._store
            reserved = store is not None and self._reserve_or_skip(store, token, requests)
            try:
                self._insert(self._requests, requests, token)
            except (ValueError, TypeError):  # refused for its rows: nothing was written
                if store is not None and reserved:
                    self._release(store, token)
                raise
            if store is not None and reserved:
                self._roll_up_or_leave(store, token, requests)
        if feedback:
            self._insert(self._feedback, feedback, batch_token(feedback))

    def _insert(self, builder: ColumnBuilder, events: Sequence[Any], token: str) -> None:
        self._backend.insert(builder.table, builder.types, builder.columns(events), token=token)

    def _reserve_or_skip(self, store: Store, token: str,
                         requests: Sequence[RequestEvent]) -> bool:
        """`_reserve`; with the control database down, the writer retries the batch once (the
        next batches not, while it stays down), and then the events still go to ClickHouse,
        not rolled up: the event log matters more
        than the judge's shortcut. Their features are remembered, and once the control
        database answers again their segments are marked as missing a batch
        (`batches.mark_gap`): the looks read ClickHouse then, exact. (A gateway that stops
        before the database is back forgets them: a bound of the design.)"""
        try:
            reserved = self._reserve(store, token, requests)
        except StoreError as exc:
            if self._refused != token and not self._gaps:  # retried by the writer: a blip?
                self._refused = token
                raise
            log.warning("events to ClickHouse without the judge's roll-up (control database: "
                        "%s); the looks of %s will read ClickHouse", exc,
                        ", ".join(sorted({e.feature for e in requests})))
            self._gaps.update(e.feature for e in requests)
            return False
        self._refused = None
        return reserved

    def _reserve(self, store: Store, token: str, requests: Sequence[RequestEvent]) -> bool:
        """Step 1 (`rampway.rollout.batches`): whether the batch is to be rolled up after its
        insert — it has requests of a feature with a segment, and was not rolled up yet."""
        from rampway.rollout import batches, segments

        gaps, features = set(self._gaps), {e.feature for e in requests}
        if not gaps:  # most batches: no rollout under way, one read and no write transaction
            with store.reading() as conn:
                if not segments.find(conn, features):
                    return False
        with store.transaction() as conn:
            if gaps:
                batches.mark_gap(conn, segments.find(conn, gaps))
            found: Segments = segments.find(conn, features)
            reserved = bool(found) and batches.reserve(conn, token, found, time.time())
        self._gaps -= gaps
        return reserved

    def _roll_up_or_leave(self, store: Store, token: str,
                          requests: Sequence[RequestEvent]) -> None:
        """`_roll_up`, after the rows are in ClickHouse. The control database down
        (`StoreError`) goes to the writer, whose retry (same token: ClickHouse skips the rows)
        rolls the batch up. Any other error must not: the writer would take the batch for
        poison and split it, and each half, under a new token, would be stored again. The
        reservation stays pending instead, and the step's looks read ClickHouse, exact, once
        it is stale (`batches.STALE_AFTER_S`)."""
        try:
            self._roll_up(store, token, requests)
        except StoreError:
            raise
        except Exception:
            log.exception("a batch in ClickHouse could not be rolled up; the looks of %s will "
                          "read ClickHouse", ", ".join(sorted({e.feature for e in requests})))

    def _roll_up(self, store: Store, token: str, requests: Sequence[RequestEvent]) -> None:
        """Step 3: the batch's roll-up, once (a retry finds it applied)."""
        from rampway.rollout import batches, segments

        with store.transaction() as conn:
            if not batches.settle(conn, token, lock=self._pg):
                return
            # read again, FOR SHARE: `merge_guard` waits for this batch (`SqlEventSink`'s way)
            found = segments.find(conn, {e.feature for e in requests}, lock=self._pg)
            if found:
                if self._rollup is None:  # numpy: once a feature is under rollout
                    from rampway.rollout.rollup import Rollup

                    self._rollup = Rollup(store.engine.dialect)
                self._rollup.apply(conn, requests, found)

    @staticmethod
    def _release(store: Store, token: str) -> None:
        from rampway.rollout import batches

        try:
            with store.transaction() as conn:
                batches.release(conn, token)
        except StoreError as exc:  # the pending row stays: looks read ClickHouse (exact)
            log.warning("could not release a refused batch's roll-up reservation: %s", exc)


def batch_token(events: Sequence[RequestEvent] | Sequence[FeedbackEvent]) -> str:
    """The deduplication token of a batch: its events' ids. The writer retries a batch whose
    insert failed, also one that was written but not acknowledged; with the token (and the
    tables' `non_replicated_deduplication_window`, `schema.DEDUP_WINDOW`) ClickHouse skips the
    repeat instead of storing every request twice — which the judge and the analysis would
    count twice, as the SQL tables' primary key never lets happen."""
    digest = hashlib.sha256()
    for event in events:
        digest.update(event.id.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


__all__ = ["ClickHouseSink", "ColumnBuilder", "batch_token"]
