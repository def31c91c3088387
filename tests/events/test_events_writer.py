"""The batch writer: never blocks, drains on close, drops (and counts) on overflow, retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from rampway.events import EventWriter, FeedbackEvent, RequestEvent


class ListSink:
    def __init__(self, fail_times: int = 0, delay: float = 0.0) -> None:
        self.requests: list[RequestEvent] = []
        self.feedback: list[FeedbackEvent] = []
        self.batches = 0
        self.fail_times = fail_times
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def write(self, requests: Sequence[RequestEvent], feedback: Sequence[FeedbackEvent]) -> None:
        self.entered.set()
        self.gate.wait()
        if self.delay:
            time.sleep(self.delay)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("database down")
        self.requests.extend(requests)
        self.feedback.extend(feedback)
        self.batches += 1


def _ev(i: int) -> RequestEvent:
    return RequestEvent(id=f"req_{i}", ts=float(i), feature="f")


def test_close_drains_every_queued_event() -> None:
    sink = ListSink()
    writer = EventWriter(sink, flush_interval=10.0, batch_size=100)
    writer.start()
    for i in range(1234):
        assert writer.emit(_ev(i))
    writer.emit(FeedbackEvent(id="fb_1", ts=1.0, name="thumbs", value=1.0, request_id="req_1"))
    writer.close()
    assert len(sink.requests) == 1234
    assert [e.id for e in sink.requests] == [f"req_{i}" for i in range(1234)]
    assert len(sink.feedback) == 1
    assert writer.stats.written == 1235 and writer.stats.dropped == 0


def test_flush_interval_bounds_the_delay_before_a_write() -> None:
    sink = ListSink()
    writer = EventWriter(sink, flush_interval=0.05, batch_size=1000)
    writer.start()
    writer.emit(_ev(1))
    deadline = time.monotonic() + 2.0
    while not sink.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.requests) == 1
    writer.close()


def test_full_queue_drops_new_events_and_counts_them() -> None:
    sink = ListSink()
    sink.gate.clear()  # the database is stuck
    dropped: list[str] = []
    writer = EventWriter(sink, max_queue=10, batch_size=5, flush_interval=0.01,
                         on_drop=lambda reason, n: dropped.extend([reason] * n))
    writer.start()
    accepted = sum(writer.emit(_ev(i)) for i in range(100))
    assert accepted < 100
    assert writer.stats.dropped == 100 - accepted == len(dropped)
    assert set(dropped) == {"queue_full"}
    sink.gate.set()
    writer.close()
    assert len(sink.requests) == accepted


def test_failed_batch_is_retried_then_written() -> None:
    sink = ListSink(fail_times=2)
    writer = EventWriter(sink, flush_interval=0.01, retry_delays=(0.0, 0.0, 0.0))
    writer.start()
    writer.emit(_ev(1))
    assert writer.flush(timeout=5)
    assert [e.id for e in sink.requests] == ["req_1"]
    assert writer.stats.failed == 0
    writer.close()


def test_batch_failing_every_retry_is_counted_failed_not_stuck() -> None:
    sink = ListSink(fail_times=100)
    writer = EventWriter(sink, flush_interval=0.01, retry_delays=(0.0,))
    writer.start()
    writer.emit(_ev(1))
    assert writer.flush(timeout=5)
    assert writer.stats.failed == 1 and sink.requests == []
    assert writer.stats.dropped_by == {"write_failed": 1}
    writer.close()


def test_emit_after_close_is_dropped_not_lost_silently() -> None:
    writer = EventWriter(ListSink())
    writer.start()
    writer.close()
    assert writer.emit(_ev(1)) is False
    assert writer.stats.dropped == 1


def test_close_without_start_still_writes_queued_events() -> None:
    sink = ListSink()
    writer = EventWriter(sink)
    writer.emit(_ev(1))
    writer.close()
    assert len(sink.requests) == 1


def test_events_arriving_during_a_write_wait_for_the_next_flush() -> None:
    # Chasing them in tiny transactions would cost the event loop interpreter time per batch.
    sink = ListSink()
    sink.gate.clear()
    writer = EventWriter(sink, flush_interval=30.0, batch_size=1000)
    writer.start()
    for i in range(10):
        writer.emit(_ev(i))
    flushed: list[bool] = []
    flusher = threading.Thread(target=lambda: flushed.append(writer.flush(timeout=5)))
    flusher.start()
    assert sink.entered.wait(5)
    for i in range(10, 15):
        writer.emit(_ev(i))
    sink.gate.set()
    flusher.join(5)
    assert flushed == [True]
    time.sleep(0.05)
    assert sink.batches == 1 and len(sink.requests) == 10
    writer.close()
    assert [e.id for e in sink.requests] == [f"req_{i}" for i in range(15)]
    assert sink.batches == 2


def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    sink = ListSink()
    writer = EventWriter(sink, flush_interval=30.0, batch_size=20)
    writer.start()
    for i in range(45):
        writer.emit(_ev(i))
    deadline = time.monotonic() + 5
    while writer.stats.written < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert writer.stats.written >= 40
    writer.close()
    assert len(sink.requests) == 45
