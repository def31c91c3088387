"""With the events in ClickHouse (the embedded engine) the overview's health and the experiment
page read them there, and show what the SQL path shows over the same events: the health as the
event log's own answer (`read_health_raw`: counts and slots equal, the p95 the same linear
quantile), the experiment page's analysis the same report."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import sqlalchemy as sa
from dashboard_seed import running_experiment
from test_dashboard_health import NOW, _seed, assert_same_counts

from rampway.dashboard.experiment_view import experiment_fingerprint, experiment_page
from rampway.dashboard.health import read_health, read_health_raw
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.tables import feedback_events, request_event_rows
from rampway.store import Store

FEATURES = ["support-bot", "other", "idle"]


def copy_events(store: Store, events: ClickHouseEvents) -> None:
    """The main database's events into ClickHouse, as the gateway would have written them."""

    def fields(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    with store.reading() as conn:
        requests = [RequestEvent(**{k: v for k, v in row.items() if k in fields(RequestEvent)})
                    for row in conn.execute(sa.select(request_event_rows)).mappings()]
        feedback = [FeedbackEvent(**{k: v for k, v in row.items()
                                     if k in fields(FeedbackEvent)})
                    for row in conn.execute(sa.select(feedback_events)).mappings()]
    events.sink().write(requests, feedback)


def test_the_health_read_in_clickhouse_is_the_event_log_s(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    _seed(store)
    copy_events(store, chdb_events)
    for now in (NOW, NOW - 1234.5, NOW - 7200):  # aligned, mid-minute, an hour earlier
        got = read_health(store, FEATURES, now=now, events=chdb_events)
        want = read_health_raw(store, FEATURES, now=now)
        for feature in FEATURES:
            a, b = got[feature], want[feature]
            assert_same_counts(a, b)
            if b.requests:
                assert math.isclose(a.p95_ms, b.p95_ms, rel_tol=1e-12)
            else:
                assert math.isnan(a.p95_ms)
    assert got["support-bot"].requests > 0 and got["idle"].requests == 0


def _numbers(doc: Any) -> Any:
    """`doc` with every float rounded to 9 significant digits (sums in another order)."""
    if isinstance(doc, dict):
        return {k: _numbers(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_numbers(v) for v in doc]
    if isinstance(doc, float) and math.isfinite(doc) and doc != 0:
        return float(f"{doc:.9g}")
    return doc


def test_the_experiment_page_reads_the_events_in_clickhouse(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    record = running_experiment(store)
    copy_events(store, chdb_events)
    now = record.started_at + 6 * 3600
    want = experiment_page(store, record, now=now)
    got = experiment_page(store, record, now=now, events=chdb_events)
    assert got["arms"] == want["arms"] and sum(a["requests"] for a in got["arms"]) > 400
    assert _numbers(got["doc"]) == _numbers(want["doc"])
    assert got["retention"] == want["retention"]
    assert experiment_fingerprint(store, record, chdb_events) == experiment_fingerprint(
        store, record)
