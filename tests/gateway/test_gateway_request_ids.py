"""Request ids (`new_request_id`, the event log's primary key) begin with the time in
milliseconds, so ids made later sort after (each partition's unique index on `id` grows at its
end), and stay 96 bits of which 48 are random."""

from __future__ import annotations

import re
import time

from rampway.gateway.call import new_request_id


def test_an_id_begins_with_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    rid = new_request_id()
    after = time.time_ns() // 1_000_000
    assert re.fullmatch(r"req_[0-9a-f]{24}", rid)
    assert before <= int(rid[4:16], 16) <= after


def test_ids_made_later_sort_after_and_ids_of_one_millisecond_differ() -> None:
    first = new_request_id()
    time.sleep(0.002)
    ids = [new_request_id() for _ in range(10_000)]
    assert all(first < rid for rid in ids)
    assert len(set(ids)) == len(ids)
