"""The experiment analysis' per-unit aggregates on ClickHouse (the embedded engine) equal the
SQL path's (SQLite and PostgreSQL) over the same events: same queries, same numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_extract import ARMS, DAY, FEATURE, FEEDBACK, REQUESTS, T0

from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.experiments.extract import Extraction, load_units
from rampway.store import Store

UNTIL = T0 + 10 * DAY


def random_events(seed: int) -> tuple[list[RequestEvent], list[FeedbackEvent]]:
    """~1,500 requests of 120 users in 2 arms (some in both, some served by another release,
    some of another feature or outside the window) and feedback by unit and by request."""
    rng = np.random.default_rng(seed)
    requests: list[RequestEvent] = []
    for u in range(120):
        arm = ARMS[u % 2]
        for _ in range(1 + int(rng.poisson(11))):
            t = float(rng.uniform(-DAY, 11 * DAY))
            both = u % 37 == 0 and rng.random() < 0.3
            served = ARMS[1 - u % 2] if both else arm
            failed = bool(rng.random() < 0.06)
            requests.append(RequestEvent(
                id=f"r{len(requests)}", ts=T0 + t, feature=FEATURE if u % 29 else "other",
                release_id=served.release_id if rng.random() > 0.02 else "support-bot@old",
                arm=served.name, unit_hash=f"user{u}", session_hash=f"s{u}-{int(t // DAY)}",
                status="error" if failed else "ok", http_status=502 if failed else 200,
                latency_ms=float(np.round(700 * np.exp(0.4 * rng.standard_normal()), 3)),
                cost_usd=float(np.round(rng.uniform(0, 0.01), 6)),
                output_tokens=int(rng.integers(0, 400)), refusal=bool(rng.random() < 0.03)))
    feedback = []
    for i in range(450):
        target = requests[int(rng.integers(0, len(requests)))]
        by_request = i % 3 == 0
        feedback.append(FeedbackEvent(
            id=f"f{i}", ts=target.ts + float(rng.uniform(-3600, 2 * DAY)),
            name=("thumbs", "signup")[i % 2], value=float(rng.integers(-1, 2)),
            request_id=target.id if by_request else None,
            unit_hash=None if by_request else target.unit_hash,
            session_hash=None if by_request else target.session_hash,
            feature=(None, FEATURE, "other")[i % 3]))
    return requests, feedback


def write_both(store: Store, events: ClickHouseEvents, requests: list[RequestEvent],
               feedback: list[FeedbackEvent]) -> None:
    SqlEventSink(store, rollup=False).write(requests, feedback)
    events.sink().write(requests, feedback)


def load(source: Store | ClickHouseEvents, **kwargs: Any) -> Extraction:
    args: dict[str, Any] = {"feature": FEATURE, "arms": ARMS, "since": T0, "until": UNTIL}
    return load_units(source, **(args | kwargs))


def assert_same(got: Extraction, want: Extraction) -> None:
    assert (got.multiple_exposures, got.multiple_exposure_requests) == (
        want.multiple_exposures, want.multiple_exposure_requests)
    for mine, theirs in zip(got.arms, want.arms, strict=True):
        assert mine.arm == theirs.arm and mine.units == theirs.units
        assert list(mine.columns) == list(theirs.columns)
        # units come back in no particular order: compare the rows sorted
        a = np.column_stack(list(mine.columns.values()))
        b = np.column_stack(list(theirs.columns.values()))
        a, b = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert mine.quantiles.keys() == theirs.quantiles.keys()
        for q, (quantile, se, units) in theirs.quantiles.items():
            assert mine.quantiles[q][0] == pytest.approx(quantile, rel=1e-12)
            assert mine.quantiles[q][1] == pytest.approx(se, rel=1e-9)
            assert mine.quantiles[q][2] == units
        assert sorted(zip(mine.latency_units.tolist(), mine.latency.tolist(), strict=True)) \
            == sorted(zip(theirs.latency_units.tolist(), theirs.latency.tolist(), strict=True))


@pytest.mark.parametrize("unit", ["user", "session"])
def test_clickhouse_equals_the_database_over_the_same_events(
    store: Store, chdb_events: ClickHouseEvents, unit: str
) -> None:
    requests, feedback = random_events(11)
    write_both(store, chdb_events, requests, feedback)
    args = {"feedback": ["thumbs", "signup"], "quantiles": (0.5, 0.95), "unit": unit}
    want = load(store, **args)
    got = load(chdb_events, **args)
    assert sum(a.units for a in want.arms) > 50 and want.multiple_exposures > 0
    assert want.arm("control").quantiles[0.95][1] > 0
    assert_same(got, want)
    assert_same(load(chdb_events, latency=True, unit=unit),
                load(store, latency=True, unit=unit))
    (scratch,) = chdb_events.backend.columns(  # the exposure's scratch tables are dropped
        "SELECT count() FROM system.tables WHERE name LIKE 'rampway_exposure_%'")
    assert scratch == [0]


def test_the_hand_counted_events_read_the_same_on_clickhouse(
    store: Store, chdb_events: ClickHouseEvents
) -> None:
    requests = [RequestEvent(**row) for row in REQUESTS]
    feedback = [FeedbackEvent(**row) for row in FEEDBACK]
    write_both(store, chdb_events, requests, feedback)
    args = {"feedback": ["thumbs", "signup", "never-sent"], "latency": True,
            "quantiles": (0.95,)}
    got = load(chdb_events, **args)
    assert (got.multiple_exposures, got.multiple_exposure_requests) == (1, 3)
    assert_same(got, load(store, **args))
    empty = load(chdb_events, since=T0 + 20 * DAY, until=T0 + 30 * DAY, quantiles=(0.95,))
    quantile, se, units = empty.arm("control").quantiles[0.95]
    assert [a.units for a in empty.arms] == [0, 0]
    assert np.isnan(quantile) and se == np.inf and units == 0


def test_names_with_quotes_and_backslashes_are_values_not_sql(
    store: Store, chdb_events: ClickHouseEvents
) -> None:
    odd = "it's\\'; DROP TABLE request_events; --"
    requests = [RequestEvent(id=f"q{i}", ts=T0 + i, feature=odd, release_id=ARMS[i % 2].release_id,
                             arm=ARMS[i % 2].name, unit_hash=f"u{i % 6}", latency_ms=float(i))
                for i in range(30)]
    write_both(store, chdb_events, requests, [])
    got = load(chdb_events, feature=odd, quantiles=(0.5,))
    assert sum(a.requests for a in got.arms) == 30
    assert_same(got, load(store, feature=odd, quantiles=(0.5,)))


def test_order_statistics_are_exact_for_every_size(
    store: Store, chdb_events: ClickHouseEvents
) -> None:
    """ClickHouse picks each order statistic by selection at a level landing on its position
    (`quantiles._order_stats`): exact for small and odd/even sizes, ties and extreme q."""
    rng = np.random.default_rng(5)
    requests = []
    for n in range(1, 42):
        values = rng.integers(0, 7 if n % 3 else 1000, size=n)  # many ties, or few
        requests += [RequestEvent(id=f"n{n}-{i}", ts=T0 + i, feature=f"size{n}",
                                  release_id=ARMS[0].release_id, arm=ARMS[0].name,
                                  unit_hash=f"u{i % 5}", latency_ms=float(v) / 4)
                     for i, v in enumerate(values)]
    write_both(store, chdb_events, requests, [])
    qs = (0.0, 0.01, 0.25, 0.5, 0.95, 0.999, 1.0)
    for n in range(1, 42):
        got = load(chdb_events, feature=f"size{n}", quantiles=qs)
        want = load(store, feature=f"size{n}", quantiles=qs)
        mine, theirs = got.arm("control").quantiles, want.arm("control").quantiles
        for q in qs:
            assert mine[q][0] == theirs[q][0]
            assert mine[q][1] == pytest.approx(theirs[q][1], rel=1e-9)
            assert mine[q][2] == theirs[q][2]
