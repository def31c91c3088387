"""Pair rows: written in batches off the request path, read back as `Pair`s for the comparison.

The capture hook hands each finished shadow call to a `PairWriter` (a bounded deque drained by
one thread, like the event writer): the serving event loop never waits on the database. The same
thread adds the not-mirrored counters (shed, over budget, past the end) to each shadow's row and
reads back what each running shadow spent today, which is how a fleet of gateways shares one
daily USD cap without talking to each other.

`load_pairs` joins each pair with its primary's request event (the primary side is that row,
never a copy): a pair whose event is not written yet, or was pruned, is left out.

    for pair in load_pairs(store, "v3-on-prod"):
        pair.primary.latency_ms, pair.mirrored.latency_ms
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from rampway.errors import RampwayError
from rampway.events.tables import SHAPE_FIELDS, event_shapes, request_events
from rampway.shadow import repo
from rampway.shadow.model import Answer, Pair, PairKind, ToolUse, slot_setters
from rampway.shadow.record import ShadowRecord
from rampway.shadow.tables import shadow_pairs, shadows
from rampway.store import Store

log = logging.getLogger("rampway.shadow")

EXCERPT_CHARS = 300
COUNTERS = ("shed", "over_budget", "expired")


@dataclass(slots=True)
class PairRow:
    """One mirrored call as stored (the `shadow_pairs` columns but `id`)."""

    shadow_id: int
    shadow: str
    request_id: str
    kind: str
    unit_hash: str | None
    ts: float
    release_id: str
    provider: str | None
    model: str | None
    status: str
    error_code: str | None
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    finish_reason: str | None
    refusal: bool
    tool_calls: list[dict[str, str]] | None
    output_chars: int
    output_text: str | None


class PairWriter:
    """Bounded queue + one writer thread. `emit` and `count` never block and never raise."""

    def __init__(
        self,
        store: Store,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        refresh_interval: float = 2.0,
        clock: Any = time.time,
    ) -> None:
        self._store = store
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._queue: deque[PairRow] = deque()
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, str], int] = {}
        self._local_cost: dict[int, float] = {}
        self._db_cost: dict[int, float] = {}
        self._budget_hits: dict[int, float] = {}
        # counters taken off `_counts` but not committed yet: `flush` waits for them too
        self._counters_in_flight = False
        self._watched: set[int] = set()
        self._last_refresh = 0.0
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.emitted = self.written = self.dropped = 0
        self._failed = 0

    # -- request side (the event loop) ---------------------------------------------------------

    def emit(self, row: PairRow) -> bool:
        """Queue one pair; False (counted in `dropped`) when the queue is full or closed."""
        if self._stopping or len(self._queue) >= self._max_queue:
            self.dropped += 1
            return False
        self._queue.append(row)
        self.emitted += 1
        sid = row.shadow_id
        with self._lock:
            self._local_cost[sid] = self._local_cost.get(sid, 0.0) + row.cost_usd
        if len(self._queue) >= self._batch_size:
            self._wake.set()
        return True

    def count(self, shadow_id: int, counter: str, n: int = 1) -> None:
        """Add `n` to one of the shadow's not-mirrored counters (shed, over_budget, expired)."""
        key = (shadow_id, counter)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def spent_today(self, shadow_id: int) -> float:
        """USD spent on the shadow today by the fleet (as of the last read) plus this process
        since then. The first call for a shadow starts watching it (read within a refresh)."""
        if shadow_id not in self._watched:
            self._watched.add(shadow_id)
            self._last_refresh = 0.0  # read it at the next flush
            self._wake.set()
        return self._db_cost.get(shadow_id, 0.0) + self._local_cost.get(shadow_id, 0.0)

    def budget_hit(self, shadow_id: int, when: float) -> None:
        """The shadow's daily USD cap was reached (recorded once a day on its row)."""
        with self._lock:
            self._budget_hits[shadow_id] = when

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rampway-shadow-pairs",
                                            daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything emitted or counted before the call is in the database."""
        target = self.emitted
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._done:
            while (self.written + self._failed < target or self._counts or self._budget_hits
                   or self._counters_in_flight):
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 30.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self._write_all()

    # -- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            self._cycle()
        self._write_all()

    def _cycle(self) -> None:
        try:
            refresh = time.monotonic() - self._last_refresh >= self._refresh_interval
            before: dict[int, float] = {}
            if refresh:  # what was emitted so far is in the database once written below
                with self._lock:
                    before = dict(self._local_cost)
            self._write_all()
            if refresh:
                self._refresh_costs(before)
        except Exception:  # noqa: BLE001 - the writer thread must survive a bad cycle
            log.exception("shadow pair writer cycle failed")
        with self._done:
            self._done.notify_all()

    def _write_all(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                with self._store.transaction() as conn:
                    conn.execute(shadow_pairs.insert(), [asdict(r) for r in batch])
                self.written += len(batch)
            except RampwayError as exc:
                self._failed += len(batch)
                log.warning("dropped %d shadow pairs: %s", len(batch), exc)
        self._write_counters()

    def _write_counters(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            hits, self._budget_hits = self._budget_hits, {}
            if not counts and not hits:
                return
            self._counters_in_flight = True
        try:
            self._commit_counters(counts, hits)
        finally:
            self._counters_in_flight = False

    def _commit_counters(self, counts: Mapping[tuple[int, str], int],
                         hits: Mapping[int, float]) -> None:
        by_shadow: dict[int, dict[str, Any]] = {}
        for (sid, name), n in counts.items():
            by_shadow.setdefault(sid, {})[name] = shadows.c[name] + n
        for sid, when in hits.items():
            by_shadow.setdefault(sid, {})["budget_hit_at"] = when
        try:
            with self._store.transaction() as conn:
                for sid, values in by_shadow.items():
                    conn.execute(shadows.update().where(shadows.c.id == sid).values(**values))
        except RampwayError as exc:
            log.warning("shadow counters not written: %s", exc)

    def _refresh_costs(self, written: Mapping[int, float]) -> None:
        """Read the fleet's spend today, then stop counting locally what it now includes (in
        that order, so the spend seen on the request path never dips below the truth)."""
        self._last_refresh = time.monotonic()
        watched = sorted(self._watched)
        totals = {} if not watched else spent_since(self._store, watched,
                                                     repo.day_start(self._clock()))
        with self._lock:
            self._db_cost = {sid: totals.get(sid, 0.0) for sid in watched}
            for sid, cost in written.items():
                self._local_cost[sid] = self._local_cost.get(sid, 0.0) - cost


def spent_since(store: Store, shadow_ids: Sequence[int], since: float) -> dict[int, float]:
    """USD spent on each shadow's calls since `since` (epoch seconds)."""
    p = shadow_pairs
    query = (sa.select(p.c.shadow_id, sa.func.sum(p.c.cost_usd))
             .where(p.c.shadow_id.in_(list(shadow_ids)), p.c.ts >= since)
             .group_by(p.c.shadow_id))
    with store.reading() as conn:
        return {int(sid): float(total or 0.0) for sid, total in conn.execute(query)}


def pair_counts(store: Store, record: ShadowRecord, *, release_id: str | None = None) -> dict[
        str, int]:
    """Pairs stored per kind (`candidate`, `twin`), optionally of one candidate release."""
    p = shadow_pairs
    query = (sa.select(p.c.kind, sa.func.count()).where(p.c.shadow_id == record.id)
             .group_by(p.c.kind))
    if release_id is not None:
        query = query.where(p.c.release_id == release_id)
    with store.reading() as conn:
        found = {str(kind): int(n) for kind, n in conn.execute(query)}
    return {"candidate": found.get("candidate", 0), "twin": found.get("twin", 0)}


def pair_summary(store: Store, record: ShadowRecord) -> dict[str, dict[str, Any]]:
    """Per release and kind: pairs, errors, USD spent (a quick look for `status`)."""
    p = shadow_pairs
    errors = sa.func.sum(sa.case((p.c.status != "ok", 1), else_=0))
    query = (sa.select(p.c.release_id, p.c.kind, sa.func.count(), errors,
                       sa.func.sum(p.c.cost_usd))
             .where(p.c.shadow_id == record.id).group_by(p.c.release_id, p.c.kind))
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return {f"{kind}:{rid}": {"release_id": rid, "kind": kind, "pairs": int(n),
                               "errors": int(e or 0), "cost_usd": float(c or 0.0)}
            for rid, kind, n, e, c in rows}


# -- reading pairs back -------------------------------------------------------------------------


def load_pairs(store: Store, name: str, *, since: float | None = None,
               excerpts: bool = True) -> Iterator[Pair]:
    """Every pair of the latest shadow called `name` (from `since`, epoch seconds), each with
    its primary's answer read from the request's event row, in time order. A request's twin and
    candidate pairs share one primary `Answer` (built once, and compared once by the report).
    With `excerpts=False` no prompt is read (`request_excerpt` is None): a report shows a few
    exemplars' requests, which `request_excerpts` reads afterwards for those requests alone."""
    record = repo.latest(store, name)
    kept = record.keep_text
    p, ev, shape = shadow_pairs, request_events, event_shapes
    # the primary's error code and finish reason are its shape's (events_0011)
    mirrored: dict[str, sa.ColumnElement[Any]] = {c.name: c for c in p.c}
    answered: dict[str, sa.ColumnElement[Any]] = {c.name: c for c in ev.c} | {
        name: shape.c[name] for name in SHAPE_FIELDS}
    # Only the columns a Pair holds, read as plain tuples: reading is half a large report's time
    query = (
        sa.select(*_untyped(p.c.request_id, p.c.kind, p.c.unit_hash, p.c.ts, p.c.release_id,
                            *_answer_columns(mirrored, p.c.output_text, kept),
                            *_answer_columns(answered, ev.c.response_text, kept),
                            ev.c.prompt_text if kept and excerpts else sa.null()))
        .select_from(p.join(ev, ev.c.id == p.c.request_id)
                     .outerjoin(shape, shape.c.id == ev.c.shape_id))
        .where(p.c.shadow_id == record.id)
        .order_by(p.c.ts, p.c.id)
    )
    if since is not None:
        query = query.where(p.c.ts >= since)
    primaries: dict[str, tuple[Answer, str | None]] = {}
    with store.reading() as conn:
        for row in _rows(conn, query):
            request_id = row[0]
            primary = primaries.get(request_id)
            if primary is None:
                primary = (_answer(row, 16), excerpt(row[27]) if kept else None)
                primaries[request_id] = primary
            kind: PairKind = "twin" if row[1] == "twin" else "candidate"
            yield _pair(record.name, request_id, row[2], float(row[3]), kind, row[4],
                        primary[0], _answer(row, 5), primary[1])


def request_excerpts(store: Store, name: str, request_ids: Iterable[str]
                     ) -> dict[str, str | None]:
    """The `request_excerpt` `load_pairs` gives each of these requests of the latest shadow
    `name` (None where its texts are not kept or its event row holds no prompt)."""
    ids = sorted(set(request_ids))
    if not ids or not repo.latest(store, name).keep_text:
        return dict.fromkeys(ids)
    ev = request_events
    with store.reading() as conn:
        rows = conn.execute(sa.select(ev.c.id, ev.c.prompt_text).where(ev.c.id.in_(ids)))
        found = {str(i): prompt for i, prompt in rows}
    return {i: excerpt(found.get(i)) for i in ids}


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> Iterator[Sequence[Any]]:
    """The query's rows as the driver returns them, a thousand at a time.

    On PostgreSQL, psycopg's `stream` on a plain cursor: the server sends rows as its plan
    yields them and the client converts one chunk while the next is on its way, where
    SQLAlchemy's `yield_per` (a server-side cursor) makes the client wait for each FETCH of
    the planner's fast-start plan, then wraps every row. In binary format floats and integers
    arrive without parsing their text (the same values: float8 text is round-trip exact).
    `load_pairs` of 120k pairs, back to back at load 4.5-5: 0.84-0.86 s of client CPU and
    1.47-1.60 s wall instead of 1.13-1.17 s and 2.18-2.39 s. A driver error is raised as
    SQLAlchemy's, so the store translates it as any other."""
    if conn.dialect.name != "postgresql":
        yield from conn.execution_options(yield_per=1000).execute(query)
        return
    compiled = query.compile(dialect=conn.dialect)
    driver = conn.connection.driver_connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    sql, params = str(compiled), compiled.params
    try:
        with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            yield from cursor.stream(sql, params, size=1000)
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(sql, params, error, dbapi_error) from error


def _untyped(*columns: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """The columns as the driver returns them, without SQLAlchemy's per-value result processing
    (a third of the read's CPU on SQLite): `_answer` converts the few values that need it."""
    return [sa.type_coerce(c, sa.types.NullType()) for c in columns]


ANSWER_COLUMNS = ("status", "error_code", "latency_ms", "ttft_ms", "input_tokens",
                  "output_tokens", "cost_usd", "finish_reason", "refusal", "tool_calls")


def _answer_columns(table: Mapping[str, sa.ColumnElement[Any]], text: sa.ColumnElement[Any],
                    kept: bool) -> list[sa.ColumnElement[Any]]:
    """An answer's ten columns (`table`: name → column) and its text (NULL unless kept). Tool
    calls come as JSON text, decoded only where there are some (most rows hold none)."""
    columns: list[sa.ColumnElement[Any]] = [table[name] for name in ANSWER_COLUMNS[:-1]]
    return [*columns, sa.cast(table["tool_calls"], sa.Text), text if kept else sa.null()]


def _answer(row: Sequence[Any], at: int) -> Answer:
    """The Answer in `row[at:at + 11]` (the `_answer_columns` order)."""
    (status, error_code, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd,
     finish_reason, refusal, tool_calls, text) = row[at:at + 11]
    answer = _new(Answer)
    _set_status(answer, status)
    _set_error_code(answer, error_code)
    _set_latency_ms(answer, float(latency_ms))
    _set_ttft_ms(answer, None if ttft_ms is None else float(ttft_ms))
    _set_input_tokens(answer, int(input_tokens))
    _set_output_tokens(answer, int(output_tokens))
    _set_cost_usd(answer, float(cost_usd))
    _set_finish_reason(answer, finish_reason)
    _set_refusal(answer, bool(refusal))
    _set_tool_calls(answer, _tools(tool_calls))
    _set_text(answer, text)
    return answer


def _pair(shadow: str, request_id: str, unit_hash: str | None, ts: float, kind: PairKind,
          release_id: str, primary: Answer, mirrored: Answer,
          request_excerpt: str | None) -> Pair:
    """`Pair(...)` with every field given, built as `_answer` builds an Answer."""
    pair = _new(Pair)
    _set_shadow(pair, shadow)
    _set_request_id(pair, request_id)
    _set_unit_hash(pair, unit_hash)
    _set_ts(pair, ts)
    _set_kind(pair, kind)
    _set_release_id(pair, release_id)
    _set_primary(pair, primary)
    _set_mirrored(pair, mirrored)
    _set_request_excerpt(pair, request_excerpt)
    return pair


# A report reads 100k+ pairs: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~1.9 µs per Answer), its slots' own setters do the same in ~1.1 µs. The
# objects are the same (every field set, still frozen to their users); `_answer` and `_pair`
# set every field, and the read-back test compares them with the constructors' own.
_new = object.__new__
(_set_status, _set_error_code, _set_latency_ms, _set_ttft_ms, _set_input_tokens,
 _set_output_tokens, _set_cost_usd, _set_finish_reason, _set_refusal, _set_tool_calls,
 _set_text) = slot_setters(Answer)
(_set_shadow, _set_request_id, _set_unit_hash, _set_ts, _set_kind, _set_release_id,
 _set_primary, _set_mirrored, _set_request_excerpt) = slot_setters(Pair)


def _tools(value: Any) -> tuple[ToolUse, ...]:
    if value is None or value == "null":  # no tool call: SQL NULL or JSON null
        return ()
    if isinstance(value, str):  # JSON text (cast in the query, or a driver without JSON type)
        value = json.loads(value)
    if not value:
        return ()
    return tuple(ToolUse(str(t.get("name", "")), str(t.get("arguments") or "{}")) for t in value)


def excerpt(prompt_text: str | None) -> str | None:
    """The last user message of a stored prompt (`{"messages": […]}`), cut to EXCERPT_CHARS."""
    if not prompt_text:
        return None
    try:
        doc = json.loads(prompt_text)
    except ValueError:
        return prompt_text[:EXCERPT_CHARS]
    messages = doc.get("messages") if isinstance(doc, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            return text[:EXCERPT_CHARS]
    return None


__all__ = [
    "COUNTERS",
    "EXCERPT_CHARS",
    "PairRow",
    "PairWriter",
    "excerpt",
    "load_pairs",
    "pair_counts",
    "pair_summary",
    "request_excerpts",
    "spent_since",
]
