"""The database sink: one transaction per batch, one bulk write per table.

On PostgreSQL (psycopg 3) each table's rows go through one `COPY … FROM STDIN` (text format,
`CopyWriter`): about 2-3x the rows per second of an executemany of INSERTs, whose per-row
protocol round trips and server-side parsing dominate (bench/ingestion.py). Elsewhere (SQLite)
an executemany of the compiled INSERT (`RowWriter`). Both write the same values from the same
event attributes, and COPY honours the same transaction: a COPY that fails (a NUL byte, a
duplicate id) rolls the whole batch back like a failed INSERT. The driver's errors are turned
into SQLAlchemy's (`DataError`, `IntegrityError`, `OperationalError` …) so `poison_reason`
reads a refused COPY exactly as a refused INSERT.

A batch is all-or-nothing: either every row of it is committed or none is, so a crash or a
failed write never leaves a partial batch behind. `poison_reason` tells the writer whether a
failure came from the rows (the database refused a value: split the batch, dead-letter the bad
rows) or from the database (retry the batch).
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

`RequestEvent.flags` holds the flag evaluations as the resolution produced them, so the request
path never builds their records: `FlagsJson` encodes them here, and since those are the very
objects the compiled flags share between calls, each distinct outcome is encoded once and then
reused (~1 us per row for three flags instead of ~5). Any value JSON cannot encode is stored as
its (cut) `str()`: one odd value from a custom resolver must not fail, and so lose, a batch.

In the same transaction the sink keeps the rollout judge's roll-up (`rampway.rollout.rollup`)
for the features whose current rollout step has a segment (`rampway.rollout.segments`): one
small query per batch finds none for the others, and numpy is loaded only when one is found.
Likewise the experiments' per-unit roll-up (`rampway.experiments.rollup`, plain Python) for the
features with an experiment's segment: a second small query per batch.

A request's attributes and flag evaluations are stored once per distinct value in
`event_values` (`rampway.events.values`), found or added first in the batch's transaction; the
row holds their ids (`flags_id`, `attributes_id`); so is its shape (source, protocol, provider,
model, served model, fingerprint, finish reason, error code: `shape_id`, in `event_shapes`).

Each batch also adds its requests to the overview's per-minute health roll-up in the same
transaction (`rampway.events.health`), a few dozen upserted rows per batch.

A feedback event that names a request but leaves its unit or session NULL is given the named
request's (`FeedbackUnits`, before it is stored): from the batch's own requests, else from the
ones already written (one lookup by id per batch that has such feedback, none otherwise). Only
NULL columns are filled, so every reader's rule is unchanged — a feedback event belongs to its
own unit, or else to its named request's — but the experiments' roll-up can then join feedback
to its units without joining every feedback event to the request log
(`rampway.experiments.rollup_feedback`). A request not written yet leaves them NULL: readers
still find those through the request. The ClickHouse sink does not fill them (its readers join).
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ARRAY, Table, any_, bindparam, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect

from rampway.events.health import HealthRollup
from rampway.events.model import MAX_ATTRIBUTE_CHARS, FeedbackEvent, RequestEvent, flag_record
from rampway.events.tables import (
    RELEASE_CLOCK_MARGIN_S,
    VALUE_FIELDS,
    feedback_events,
    request_events,
)
from rampway.events.values import ShapeIds, ValueIds
from rampway.events.writer import poison_reason as python_poison_reason
from rampway.store.schema import is_json

if TYPE_CHECKING:
    import psycopg

    from rampway.experiments.rollup import Rollup as ExperimentRollup
    from rampway.rollout.rollup import Rollup
    from rampway.store import Store


class RowWriter:
    """Inserts objects whose attributes are named like `table`'s columns, many rows at once.

    Example:
        rows = RowWriter(request_events, engine.dialect)
        with store.transaction() as conn:
            rows.insert(conn, events)
    """

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        encoders: Mapping[str, Callable[[Any], Any]] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        """`encoders`: column → its own encoder (JSON columns without one use `json.dumps`'s
        output); `sources`: column → the attribute it is read from, when not its namesake."""
        compiled = insert(table).compile(dialect=dialect)
        names = list(compiled.positiontup or ()) if dialect.positional else list(compiled.params)
        self.sql = str(compiled)
        self.names = tuple(names)
        self._values, self._json = _reader(table, names, encoders, sources)
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


class CopyWriter:
    """PostgreSQL: the rows of `table` in one `COPY … FROM STDIN` per batch (psycopg 3).

    Text format: psycopg renders each value as PostgreSQL's input syntax in C, and a JSON
    column takes the same encoded text the INSERT path binds, so `RowWriter` and `CopyWriter`
    store identical rows. Runs on the connection's open transaction (the store's).

    Example:
        rows = CopyWriter(request_events, engine.dialect)
        with store.transaction() as conn:
            rows.insert(conn, events)
    """

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        encoders: Mapping[str, Callable[[Any], Any]] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        """`encoders`, `sources`: as `RowWriter`'s."""
        quote = dialect.identifier_preparer.quote
        names = [c.name for c in table.columns]
        self.names = tuple(names)
        self.sql = (f"COPY {dialect.identifier_preparer.format_table(table)} "
                    f"({', '.join(quote(n) for n in names)}) FROM STDIN")
        self._values, self._json = _reader(table, names, encoders, sources)
        self._dialect = dialect

    def insert(self, conn: Connection, objs: Sequence[Any]) -> None:
        if not objs:
            return
        raw = conn.connection.dbapi_connection
        if raw is None:
            raise sa_exc.ResourceClosedError("the connection is closed")
        try:
            self._copy(cast("psycopg.Connection[Any]", raw), objs)
        except self._dialect.loaded_dbapi.Error as exc:
            # what SQLAlchemy would have raised for the same error from an INSERT
            raise sa_exc.DBAPIError.instance(
                self.sql, None, exc, self._dialect.loaded_dbapi.Error, dialect=self._dialect,
            ) from exc

    def _copy(self, raw: psycopg.Connection[Any], objs: Sequence[Any]) -> None:
        values, columns = self._values, self._json
        with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
            write = copy.write_row
            if columns:
                for obj in objs:
                    write(_with_json(values(obj), columns))
            else:
                for obj in objs:
                    write(values(obj))


Encoders = tuple[tuple[int, Callable[[Any], Any]], ...]


def _reader(
    table: Table,
    names: Sequence[str],
    encoders: Mapping[str, Callable[[Any], Any]] | None,
    sources: Mapping[str, str] | None,
) -> tuple[Callable[[Any], tuple[Any, ...]], Encoders]:
    """What reads a row's values of `names` from an object, and the (position, encoder) of the
    values to encode (JSON columns and those given an encoder; None stays None)."""
    special, renamed = encoders or {}, sources or {}
    converted = tuple(
        (i, special.get(name, _dumps))
        for i, name in enumerate(names)
        if name in special or is_json(table.c[name].type)
    )
    return _getter([renamed.get(n, n) for n in names]), converted


def _getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A C-level reader of those attributes, always returning a tuple (even for one name)."""
    get = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda obj: (get(obj),)
    return get


def _jsonable(obj: Any) -> Any:
    """What JSON gets for an object it cannot encode itself (the encoder's `default`)."""
    if hasattr(obj, "rule_index") and hasattr(obj, "reason"):  # a flag evaluation
        return flag_record(obj)
    return str(obj)[:MAX_ATTRIBUTE_CHARS]


# Same output as json.dumps (same options, C encoder), plus the default above.
_dumps = json.JSONEncoder(default=_jsonable).encode


def _with_json(values: tuple[Any, ...], columns: Encoders) -> tuple[Any, ...]:
    out = list(values)
    for i, encode in columns:
        if out[i] is not None:
            out[i] = encode(out[i])
    return tuple(out)


class FlagsJson:
    """Encodes `RequestEvent.flags` as `json.dumps` would, reusing each evaluation's encoding.

    Evaluations are immutable and shared: the memo keeps the object with its encoded record, so
    an id found there is that very object (it cannot be freed and its id reused meanwhile).
    Bounded: it starts over at `max_entries` (JSON-typed flags, for one, deep-copy their value
    into a new evaluation per call). Plain dict records are encoded each time.

    Example:
        FlagsJson()({"f.model": Evaluation("small", None, Reason.TARGETING_MATCH, None, 0)})
        # '{"f.model": {"value": "small", "reason": "TARGETING_MATCH", "rule": 0}}'
    """

    __slots__ = ("_keys", "_memo", "max_entries")

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._memo: dict[int, tuple[Any, str]] = {}
        self._keys: dict[str, str] = {}

    def __call__(self, flags: Mapping[str, Any]) -> str:
        memo, keys = self._memo, self._keys
        parts = []
        for key, outcome in flags.items():
            hit = memo.get(id(outcome))
            if hit is not None and hit[0] is outcome:
                value = hit[1]
            else:
                value = _dumps(outcome)
                if not isinstance(outcome, Mapping):
                    if len(memo) >= self.max_entries:
                        memo.clear()
                    memo[id(outcome)] = (outcome, value)
            name = keys.get(key)
            if name is None:
                if len(keys) >= self.max_entries:
                    keys.clear()
                name = keys[key] = _dumps(str(key))
            parts.append(f"{name}: {value}")
        return "{" + ", ".join(parts) + "}"


#: Ids looked up per statement on SQLite (its limit on bound parameters is 32,766, or 999 before
#: 3.32); PostgreSQL takes them all as one array.
LOOKUP_CHUNK = 500
#: PostgreSQL: feedback naming a gateway request older than this is not filled (see
#: `FeedbackUnits`): late feedback is rare, and its readers join it as before.
LOOKUP_DAYS = 30
_REQUEST_ID = re.compile(r"req_([0-9a-f]{12})[0-9a-f]{12}")


class FeedbackUnits:
    """Fills a feedback event's NULL `unit_hash` / `session_hash` from the request it names.

    From the batch's requests first (a request and its feedback may share a batch), then with
    one lookup of the remaining ids among the written requests, in the batch's transaction.
    A request found nowhere (not written yet, or gone) leaves the columns NULL, and so does an
    id found on more than one row (two requests given one id on different days, one chance in
    2**48): readers join those to the request log as before, so filling is never required,
    only cheaper to read. On PostgreSQL the lookup reads only the day partitions around the
    ids' own milliseconds (`new_request_id`'s first 6 bytes), ± RELEASE_CLOCK_MARGIN_S, and
    only for gateway ids of the last `LOOKUP_DAYS`: a feedback's `request_id` is the client's
    word, and one id of another form, or one claiming 1970, would otherwise send every batch
    through every partition's id index. Those stay NULL (read by the join, as before).

    Example:
        units = FeedbackUnits(engine.dialect)
        feedback = units.fill(conn, requests, feedback)   # new events where one was filled
    """

    def __init__(self, dialect: Dialect) -> None:
        self._pg = dialect.name == "postgresql"

    def fill(self, conn: Connection, requests: Sequence[RequestEvent],
             feedback: Sequence[FeedbackEvent]) -> Sequence[FeedbackEvent]:
        """`feedback` with the NULL units of those naming a request filled (new objects: the
        caller's are left as they were, for a retried batch)."""
        wanted = [i for i, f in enumerate(feedback) if f.request_id is not None
                  and (f.unit_hash is None or f.session_hash is None)]
        if not wanted:
            return feedback
        in_batch = {e.id: e for e in requests}
        units: dict[str, tuple[str | None, str | None]] = {}
        missing: set[str] = set()
        for i in wanted:
            request_id = cast("str", feedback[i].request_id)
            named = in_batch.get(request_id)
            if named is not None:
                units[request_id] = (named.unit_hash, named.session_hash)
            else:
                missing.add(request_id)
        if missing:
            units.update(self._written(conn, missing))
        out = list(feedback)
        for i in wanted:
            f = out[i]
            found = units.get(cast("str", f.request_id))
            if found is None:
                continue
            unit = found[0] if f.unit_hash is None else f.unit_hash
            session = found[1] if f.session_hash is None else f.session_hash
            if unit != f.unit_hash or session != f.session_hash:
                out[i] = replace(f, unit_hash=unit, session_hash=session)
        return out

    def _written(self, conn: Connection, ids: Collection[str],
                 ) -> dict[str, tuple[str | None, str | None]]:
        """id → (unit_hash, session_hash) of the written requests among `ids` (one row each)."""
        ev = request_events.c
        columns = (ev.id, ev.unit_hash, ev.session_hash)
        rows: list[Any] = []
        if self._pg:
            recent = _recent_ids(ids, time.time())
            if not recent:
                return {}
            span = min(recent.values()), max(recent.values())
            rows = list(conn.execute(select(*columns).where(
                ev.id == any_(bindparam("ids", sorted(recent),
                                        type_=ARRAY(request_events.c.id.type))),
                # the ids' days only, not every partition's index
                ev.ts >= span[0] - RELEASE_CLOCK_MARGIN_S,
                ev.ts <= span[1] + RELEASE_CLOCK_MARGIN_S)))
        else:
            ordered = sorted(ids)
            for lo in range(0, len(ordered), LOOKUP_CHUNK):
                rows += conn.execute(select(*columns).where(
                    ev.id.in_(ordered[lo:lo + LOOKUP_CHUNK]))).all()
        found: dict[str, tuple[str | None, str | None]] = {}
        repeated: set[str] = set()
        for request_id, unit, session in rows:
            if request_id in found:
                repeated.add(request_id)
            found[request_id] = (unit, session)
        for request_id in repeated:
            del found[request_id]
        return found


def _recent_ids(ids: Collection[str], now: float) -> dict[str, float]:
    """The gateway request ids (`req_` + the millisecond in 12 hex digits + 12 random ones)
    among `ids` made in the last `LOOKUP_DAYS` (or up to RELEASE_CLOCK_MARGIN_S ahead), with
    their time (epoch seconds)."""
    earliest, latest = now - LOOKUP_DAYS * 86_400.0, now + RELEASE_CLOCK_MARGIN_S
    out = {}
    for request_id in ids:
        match = _REQUEST_ID.fullmatch(request_id)
        if match is not None:
            made = int(match.group(1), 16) / 1000.0
            if earliest <= made <= latest:
                out[request_id] = made
    return out


class SqlEventSink:
    """Writes event batches to the store's `request_events` and `feedback_events` tables."""

    def __init__(self, store: Store, *, copy: bool | None = None, rollup: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        """`copy`: force COPY (True; PostgreSQL with psycopg only) or INSERT (False); by default
        COPY wherever it is available. `rollup`: also keep the judge's roll-up in the batch's
        transaction (`rampway.rollout.rollup`) for the features with a rollout step under way,
        and the experiments' (`rampway.experiments.rollup`) for those with an experiment's
        segment: two small queries per batch, and the roll-ups' work only for those features'
        requests. `clock`: what stamps the values and shapes a batch uses
        (`rampway.events.values`)."""
        self._store = store
        dialect = store.engine.dialect
        if copy and not _copies(dialect):
            raise ValueError(f"COPY needs PostgreSQL through psycopg, not {dialect.name}")
        writer = CopyWriter if (_copies(dialect) if copy is None else copy) else RowWriter
        self._ids = ValueIds(dialect, {"flags": FlagsJson(), "attributes": _dumps}, clock=clock)
        self._shapes = ShapeIds(dialect, clock=clock)
        refs = {f"{field}_id": field for field in VALUE_FIELDS}
        self._requests: RowWriter | CopyWriter = writer(
            request_events, dialect,
            dict.fromkeys(refs, self._ids.id_of) | {"shape_id": self._shapes.id_of},
            refs | {"shape_id": "id"})  # the shape is found by the event's id
        self._feedback: RowWriter | CopyWriter = writer(feedback_events, dialect)
        self._feedback_units = FeedbackUnits(dialect)
        self._rolling = rollup
        if rollup:
            # imported now, not in the first batch: rampway.rollout takes ~0.4 s to import, and
            # the writer's first batch paying it let a small queue overflow under load
            from rampway.experiments import rollup as _experiments  # noqa: F401
            from rampway.rollout import segments  # noqa: F401  (rampway.rollout needs the events)
        self._health = HealthRollup(dialect)  # the overview's (rampway.events.health)
        self._rollup: Rollup | None = None
        self._experiments: ExperimentRollup | None = None
        self._pg = dialect.name == "postgresql"

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        if not requests and not feedback:
            return
        with self._store.transaction() as conn:
            stamp = self._ids.stamp(requests)  # one pass over the batch for both
            self._ids.prepare(conn, requests, stamp)
            self._shapes.prepare(conn, requests, stamp)
            self._requests.insert(conn, requests)
            self._feedback.insert(conn, self._feedback_units.fill(conn, requests, feedback))
            self._health.apply(conn, requests)
            if self._rolling and requests:
                self._roll_up(conn, requests)
        self._ids.committed()
        self._shapes.committed()

    def _roll_up(self, conn: Connection, requests: Sequence[RequestEvent]) -> None:
        # imported here: rampway.rollout and rampway.experiments build on the event log
        # (already loaded by __init__)
        from rampway.experiments import rollup as experiments
        from rampway.rollout import segments

        features = {e.feature for e in requests}
        found = segments.find(conn, features, lock=self._pg)
        if found:
            if self._rollup is None:  # numpy: only once a feature of the batch is under rollout
                from rampway.rollout.rollup import Rollup

                self._rollup = Rollup(self._store.engine.dialect)
            self._rollup.apply(conn, requests, found)
        running = experiments.find(conn, features, lock=self._pg)
        if running:
            if self._experiments is None:
                self._experiments = experiments.Rollup(self._store.engine.dialect)
            self._experiments.apply(conn, requests, running)

    @staticmethod
    def poison_reason(exc: BaseException) -> str | None:
        """Why the database refused the rows, or None when the database itself is in trouble.

        DataError (PostgreSQL: NUL in text, `\\u0000` or a lone surrogate in JSONB, a number
        out of range) and IntegrityError (a duplicate id) are about the rows; so are values a
        driver cannot even encode (a lone surrogate: UnicodeEncodeError, raised before any SQL).
        OperationalError and friends (connection lost, server restarting) are not: retry.
        The store wraps driver errors in StoreError, so the cause chain is what is read.
        """
        seen: BaseException | None = exc
        for _ in range(8):  # a cause chain, bounded in case one loops
            if seen is None:
                break
            if isinstance(seen, sa_exc.DataError | sa_exc.IntegrityError):
                return f"{type(seen).__name__}: {_first_line(seen.orig)}"
            if isinstance(seen, sa_exc.DBAPIError):
                return None
            reason = python_poison_reason(seen)
            if reason is not None:
                return reason
            seen = seen.__cause__ or (
                seen.orig if isinstance(seen, sa_exc.StatementError) else None
            )
        return None


def _copies(dialect: Dialect) -> bool:
    """Whether batches go through COPY: PostgreSQL through psycopg 3 (whose `copy()` it is)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""


__all__ = ["CopyWriter", "FeedbackUnits", "FlagsJson", "RowWriter", "SqlEventSink"]
