"""Batch writer: events leave the request path through a bounded in-memory queue.

The request path only appends to a deque (no lock, no I/O); one background thread drains it in
batches into an `EventSink` (the database). A thread rather than an asyncio task because the sink
does blocking database I/O, and because the same writer serves the async gateway and the sync SDK.

Policies (documented in docs and `rampway serve --help`):

* **Overflow** — the queue holds at most `max_queue` events. When it is full (the database is down
  or slower than the traffic), new events are *dropped*, never block a request; every drop is
  counted (`stats.dropped`, metric `rampway_events_dropped_total{reason="queue_full"}`) and
  logged at most every 10 s. Every other drop is counted the same way under its own reason, so
  the metric and `/readyz` account for every event that did not reach the database.
* **Failures** — a batch the sink cannot write *for a reason of the database* (connection lost,
  server restarting) is retried with backoff (`retry_delays`); after the last retry its events
  are counted dropped (`write_failed`) and logged, so a stuck database cannot stall the log.
  A restart shorter than that window (3.6 s by default) loses no batch: the events that arrive
  meanwhile wait in the queue, and only those that find it full are dropped and counted
  (tests/events/test_events_pg_restart.py restarts a real PostgreSQL under load).
* **Poison** — a batch the sink refuses *because of a row* (a NUL byte PostgreSQL's text type
  refuses, a lone surrogate, a duplicate id: see `poison_reason`) is split in halves and each
  half written again, down to the single refused rows: every other row of the batch lands, and
  each refused row goes to the dead letter (`rampway.events.deadletter`) with its reason and is
  counted dropped (`rejected`). A batch of n rows with k bad ones costs about k·log2(n) writes.
* **Crash-loss window** — events are flushed every `flush_interval` seconds (or as soon as
  `batch_size` are queued). A hard crash (SIGKILL, power loss) loses at most the events accepted
  during the last `flush_interval` plus the batch being written. A graceful stop (`close()`,
  which the gateway calls on SIGTERM) drains the queue completely before returning.

Example:
    writer = EventWriter(SqlEventSink(engine), flush_interval=0.5)
    writer.start()
    writer.emit(RequestEvent(...))   # returns at once
    writer.close()                   # everything emitted so far is in the database
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rampway.events.deadletter import DeadLetter
from rampway.events.model import FeedbackEvent, RequestEvent

log = logging.getLogger("rampway.events")

Event = RequestEvent | FeedbackEvent

# Drop reasons (label values of rampway_events_dropped_total).
QUEUE_FULL = "queue_full"
CLOSED = "closed"
REJECTED = "rejected"
WRITE_FAILED = "write_failed"


class EventSink(Protocol):
    """Where batches go. One call per batch; raising means the whole batch was not written.

    A sink may also define `poison_reason(exc) -> str | None` (see `SqlEventSink`) to say that
    an error was caused by the rows rather than by the database; without it, Python's own data
    errors (ValueError, TypeError, UnicodeError, OverflowError) are taken as poison.
    """

    def write(
        self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]
    ) -> None: ...


def poison_reason(exc: BaseException) -> str | None:
    """Why a write failed because of its rows (not retried: retrying fails the same way)."""
    if isinstance(exc, ValueError | TypeError | UnicodeError | OverflowError):
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(slots=True)
class WriterStats:
    """Counters. `failed` counts events not written (rejected or write_failed) for `flush`;
    `dropped` counts every event lost, whatever the reason, and `dropped_by` splits it."""

    emitted: int = 0
    written: int = 0
    dropped: int = 0
    failed: int = 0
    rejected: int = 0
    batches: int = 0
    dropped_by: dict[str, int] = field(default_factory=dict)


class EventWriter:
    """Bounded queue + one writer thread. `emit` never blocks and never raises."""

    def __init__(
        self,
        sink: EventSink,
        *,
        max_queue: int = 50_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        retry_delays: Sequence[float] = (0.1, 0.5, 1.0, 2.0),
        on_drop: Callable[[str, int], None] | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        """`on_drop(reason, n)` is told of every lost event (the gateway feeds its metric)."""
        self._sink = sink
        self._poison: Callable[[BaseException], str | None] = getattr(
            sink, "poison_reason", poison_reason
        )
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_delays = tuple(retry_delays)
        self._on_drop = on_drop
        self._dead_letter = dead_letter
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_drop_log = 0.0
        self._count_lock = threading.Lock()  # drops are counted from both threads
        self.stats = WriterStats()

    @property
    def flush_interval(self) -> float:
        return self._flush_interval

    @property
    def dead_letter(self) -> DeadLetter | None:
        return self._dead_letter

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="rampway-events", daemon=True)
        self._thread.start()

    def emit(self, event: Event) -> bool:
        """Queue one event; False when it was dropped because the queue is full or closed."""
        if self._stopping or len(self._queue) >= self._max_queue:
            self._count_drop(CLOSED if self._stopping else QUEUE_FULL, 1)
            self._log_queue_full()
            return False
        self._queue.append(event)
        self.stats.emitted += 1
        if len(self._queue) >= self._batch_size:
            self._wake.set()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every event emitted before the call is written (or failed)."""
        target = self.stats.emitted
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._done:
            while self.stats.written + self.stats.failed < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._done.wait(left)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop accepting events, write everything queued, stop the thread."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:  # never started: drain inline so nothing accepted is lost
            self._drain()

    # -- writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            self._flush_queued()
        self._drain()

    def _flush_queued(self) -> None:
        """Write the events queued when this flush began, then go back to waiting.

        Events that arrive while a batch is being written wait for the next tick (or for
        `batch_size` of them) instead of being chased in tiny batches: each transaction has a
        fixed cost in interpreter time, which the event loop of the gateway pays as latency.
        """
        pending = len(self._queue)
        while pending > 0 and self._queue:
            batch = self._take(min(pending, self._batch_size))
            pending -= len(batch)
            self._write(batch)

    def _drain(self) -> None:
        while self._queue:
            batch = self._take(self._batch_size)
            self._write(batch)

    def _take(self, n: int) -> list[Event]:
        out: list[Event] = []
        popleft = self._queue.popleft
        while self._queue and len(out) < n:
            out.append(popleft())
        return out

    def _write(self, batch: list[Event]) -> None:
        written = self._store(batch)
        with self._done:
            self.stats.written += written
            self.stats.failed += len(batch) - written
            self.stats.batches += 1
            self._done.notify_all()

    def _store(self, batch: list[Event]) -> int:
        """Write `batch`, retrying database trouble and isolating poison; rows written."""
        for delay in (*self._retry_delays, None):
            error = self._try(batch)
            if error is None:
                return len(batch)
            reason = self._poison(error)
            if reason is not None:
                return self._isolate(batch, reason)
            if delay is None:
                log.error("event batch lost after retries (%d events): %s", len(batch), error)
                self._count_drop(WRITE_FAILED, len(batch))
                return 0
            log.warning("event batch write failed, retrying in %.1fs: %s", delay, error)
            time.sleep(delay)
        return 0  # not reached: the last delay is None

    def _try(self, batch: list[Event]) -> Exception | None:
        requests = [e for e in batch if isinstance(e, RequestEvent)]
        feedback = [e for e in batch if isinstance(e, FeedbackEvent)]
        try:
            self._sink.write(requests, feedback)
        except Exception as exc:  # noqa: BLE001 - any sink failure must not kill the thread
            return exc
        return None

    def _isolate(self, batch: list[Event], reason: str) -> int:
        """The batch was refused for its content: bisect down to the bad rows."""
        if len(batch) == 1:
            log.error("event %s refused by the database, sent to the dead letter: %s",
                      batch[0].id, reason)
            if self._dead_letter is not None:
                self._dead_letter.put(batch, reason)
            with self._done:
                self.stats.rejected += 1
            self._count_drop(REJECTED, 1)
            return 0
        half = len(batch) // 2
        return self._store(batch[:half]) + self._store(batch[half:])

    def _count_drop(self, reason: str, n: int) -> None:
        stats = self.stats
        with self._count_lock:
            stats.dropped += n
            stats.dropped_by[reason] = stats.dropped_by.get(reason, 0) + n
        if self._on_drop is not None:
            self._on_drop(reason, n)

    def _log_queue_full(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:
            self._last_drop_log = now
            log.warning(
                "event queue full (%d): dropping events (%d dropped so far)",
                self._max_queue,
                self.stats.dropped,
            )


__all__ = [
    "CLOSED",
    "QUEUE_FULL",
    "REJECTED",
    "WRITE_FAILED",
    "Event",
    "EventSink",
    "EventWriter",
    "WriterStats",
    "poison_reason",
]
