"""Batch writer: events leave the request path through a bounded in-memory queue.

The request path only appends to a deque (no lock, no I/O); one background thread drains it in
batches into an `EventSink` (the database). A thread rather than an asyncio task because the sink
does blocking database I/O, and because the same writer serves the async gateway and the sync SDK.

Policies (documented in docs and `rampway serve --help`):

* **Overflow** — the queue holds at most `max_queue` events. When it is full (the database is down
  or slower than the traffic), new events are *dropped*, never block a request; every drop is
  counted (`stats.dropped`, metric `rampway_events_dropped_total`) and logged at most every 10 s.
* **Failures** — a batch the sink rejects is retried with backoff (`retry_delays`); after the last
  retry it is counted in `stats.failed` and logged, so a poison batch cannot stall the log forever.
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
from dataclasses import dataclass
from typing import Protocol

from rampway.events.model import FeedbackEvent, RequestEvent

log = logging.getLogger("rampway.events")

Event = RequestEvent | FeedbackEvent


class EventSink(Protocol):
    """Where batches go. One call per batch; raising means the whole batch was not written."""

    def write(
        self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]
    ) -> None: ...


@dataclass(slots=True)
class WriterStats:
    emitted: int = 0
    written: int = 0
    dropped: int = 0
    failed: int = 0
    batches: int = 0


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
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._sink = sink
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_delays = tuple(retry_delays)
        self._on_drop = on_drop
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_drop_log = 0.0
        self.stats = WriterStats()

    @property
    def flush_interval(self) -> float:
        return self._flush_interval

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
            self._drop()
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
        requests = [e for e in batch if isinstance(e, RequestEvent)]
        feedback = [e for e in batch if isinstance(e, FeedbackEvent)]
        ok = self._write_with_retries(requests, feedback)
        with self._done:
            if ok:
                self.stats.written += len(batch)
                self.stats.batches += 1
            else:
                self.stats.failed += len(batch)
            self._done.notify_all()

    def _write_with_retries(
        self, requests: list[RequestEvent], feedback: list[FeedbackEvent]
    ) -> bool:
        for delay in (*self._retry_delays, None):
            try:
                self._sink.write(requests, feedback)
                return True
            except Exception as exc:  # noqa: BLE001 - any sink failure must not kill the thread
                if delay is None:
                    log.error(
                        "event batch lost after retries (%d events): %s",
                        len(requests) + len(feedback),
                        exc,
                    )
                    return False
                log.warning("event batch write failed, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
        return False

    def _drop(self) -> None:
        self.stats.dropped += 1
        if self._on_drop is not None:
            self._on_drop(1)
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:
            self._last_drop_log = now
            log.warning(
                "event queue full (%d): dropping events (%d dropped so far)",
                self._max_queue,
                self.stats.dropped,
            )


__all__ = ["Event", "EventSink", "EventWriter", "WriterStats"]
