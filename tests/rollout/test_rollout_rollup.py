"""The roll-up (`rampway.rollout.rollup`, kept per batch by the event sink) against the
database's per-unit totals (`rampway.rollout.totals`, what the controller reads), on both
databases: rates and means to rounding, quantile guardrails within the bucket tolerance."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest
import sqlalchemy as sa
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, gated_pair
from test_rollout_totals import GUARDRAILS, _plan

from rampway.events import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import request_events
from rampway.rollout import Controller
from rampway.rollout._judge import SRM_SETTLE_SECONDS, judge_totals
from rampway.rollout.metrics import metric_def
from rampway.rollout.rollup import (
    BUCKETS,
    GUARD_SECONDS,
    SETTLE_SECONDS,
    Rollup,
    Sparse,
    _exceedance,
    load_look,
    merge_guard,
    open_segment,
)
from rampway.rollout.totals import load_totals
from rampway.store import Store

FIELDS = [f.name for f in dataclasses.fields(RequestEvent)]
#: Quantile guardrails: the exceedance shares may differ by this much (the threshold is read
#: off 1%-wide buckets), the bounds by as much again.
SHARE_TOL = 0.01


def _replay(store: Store, since: float, batch: int = 97) -> None:
    """Roll up the feature's requests from `since` on, in batches, as the sink would."""
    with store.reading() as conn:
        rows = conn.execute(sa.select(request_events).where(
            request_events.c.feature == FEATURE, request_events.c.ts >= since - 30)
            .order_by(request_events.c.ts)).mappings().all()
    events = [RequestEvent(**{k: r[k] for k in FIELDS}) for r in rows]
    rollup = Rollup(store.engine.dialect)
    for start in range(0, len(events), batch):
        with store.transaction() as conn:
            rollup.apply(conn, events[start:start + batch])


def _compare(store: Store, releases: dict[str, str], since: float, until: float) -> None:
    window = {"feature": FEATURE, "releases": releases, "since": since, "until": until}
    exact = load_totals(store, guardrails=GUARDRAILS, settle=SRM_SETTLE_SECONDS, **window)
    rolled = load_look(store, guardrails=GUARDRAILS, **window)
    assert rolled.requests == exact.requests
    assert rolled.units == exact.units
    for g, a, b, qa, qb in zip(GUARDRAILS, rolled.totals, exact.totals, rolled.quantiles,
                               exact.quantiles, strict=True):
        got = judge_totals(*a, g, alpha=0.01, quantiles=qa)
        expected = judge_totals(*b, g, alpha=0.01, quantiles=qb)
        assert got.verdict is expected.verdict, g.metric
        counts = ("n_baseline", "n_candidate", "units_baseline", "units_candidate")
        assert [getattr(got, f) for f in counts] == [getattr(expected, f) for f in counts]
        quantile = metric_def(g.metric).kind == "quantile"
        for field in ("baseline_value", "candidate_value", "estimate", "lower", "upper"):
            x, y = getattr(got, field), getattr(expected, field)
            if math.isnan(y):  # no feedback at all, say
                assert math.isnan(x), (g.metric, field, x)
                continue
            if quantile and field.endswith("_value"):  # the quantiles themselves: 1% buckets
                assert math.isclose(x, y, rel_tol=0.02), (g.metric, field, x, y)
            elif quantile:
                assert math.isclose(x, y, abs_tol=SHARE_TOL), (g.metric, field, x, y)
            else:
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-7), (g.metric, field, x, y)


def test_settle_seconds_match_the_judge() -> None:
    assert SETTLE_SECONDS == SRM_SETTLE_SECONDS


def test_exceedance_sums_match_a_dense_count() -> None:
    rng = np.random.default_rng(3)
    units, size = 40, 600
    h = Sparse(rng.integers(units, size=size), rng.integers(BUCKETS, size=size),
               np.ones(size)).plus(Sparse.empty())
    n = np.bincount(h.unit, h.count, units)
    dense = np.zeros((units, BUCKETS))
    np.add.at(dense, (h.unit, h.bucket), h.count)
    e = np.cumsum(dense[:, ::-1], axis=1)[:, ::-1]  # e[u, j]: count at or above bucket j
    e1, e2, en = _exceedance(h, n)
    assert np.allclose(e1, e.sum(axis=0))
    assert np.allclose(e2, (e * e).sum(axis=0))
    assert np.allclose(en, (e * n[:, None]).sum(axis=0))


def test_sparse_blobs_round_trip() -> None:
    h = Sparse(np.array([0, 0, 2]), np.array([5, 9, 1]), np.array([1.0, 3.0, 2.0]))
    back = Sparse.from_blobs(h.blobs(3))
    assert back.unit.tolist() == [0, 0, 2] and back.bucket.tolist() == [5, 9, 1]
    assert back.count.tolist() == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("unit_feedback", [False, True])
def test_rollup_judges_like_the_database_totals(store: Store, unit_feedback: bool) -> None:
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    sim = Simulation(store, Controller(store, clock=clock), clock,
                     {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile(error_p=0.08, latency_ms=900)},
                     per_minute=600, units=400, unit_feedback=unit_feedback)
    sim.controller.start(FEATURE, candidate, actor="t", plan=_plan())
    since = sim.clock.t
    for _ in range(3):
        sim.minute()
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)
    _replay(store, since)
    _compare(store, sim.releases, since, sim.clock.t + 1)


def _events(start: int, n: int, since: float, rng: np.random.Generator,
            releases: dict[str, str]) -> list[RequestEvent]:
    events = []
    for i in range(start, start + n):
        unit = int(rng.integers(150))
        arm = ("baseline", "candidate", "production")[unit % 3]
        ok = rng.random() > 0.05 * (1 + unit % 2)
        events.append(RequestEvent(
            id=f"r{i}", ts=since - 50 + i * 0.1, feature=FEATURE if i % 7 else "other",
            release_id=releases.get(arm, "support-bot@aaaa"), arm=arm,
            unit_hash=None if i % 11 == 0 else f"u{unit}",
            status="ok" if ok else "error", latency_ms=float(rng.lognormal(6.5, 0.5)),
            ttft_ms=float(rng.lognormal(5, 0.5)) if i % 3 else None,
            cost_usd=0.001 * (1 + unit % 4), output_tokens=int(50 + unit % 40),
            fallback_used=bool(rng.random() < 0.1), refusal=bool(rng.random() < 0.02)))
    return events


def test_concurrent_sinks_keep_one_consistent_rollup(store: Store) -> None:
    """Two writers (threads with their own sinks, as two gateways) updating the same units:
    each batch moves a unit from its old state to its new one under the arm's lock, so the
    moments telescope to the right totals whatever the interleaving."""
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)

    def write(offset: int) -> None:
        sink = SqlEventSink(store, rollup=True)
        rng = np.random.default_rng(offset)
        batches = [_events(start, 500, since, rng, releases)
                   for start in range(offset, 10_000, 1000)]
        ready.wait()
        for batch in batches:
            sink.write(batch, [])

    ready = threading.Barrier(2)
    threads = [threading.Thread(target=write, args=(offset,)) for offset in (0, 500)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _compare(store, releases, since, since + 10_000)


def test_the_sink_keeps_the_rollup_of_open_segments_only(store: Store) -> None:
    """Through `SqlEventSink(rollup=True)`: requests before the segment, of other features
    or of other arms are not rolled up; requests without a unit are units of their own."""
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)
    rng = np.random.default_rng(5)
    sink = SqlEventSink(store, rollup=True)
    n = 3000
    for start in range(0, n, 500):
        sink.write(_events(start, 500, since, rng, releases), [])
    _compare(store, releases, since, since + n)


def test_requests_written_before_the_segment_was_seen_still_count(store: Store) -> None:
    """A writer that looked for segments a moment before the step's segment was committed
    wrote that moment's requests without rolling them up; the look reads the segment's first
    `GUARD_SECONDS` from the event log, so they count all the same."""
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    rng = np.random.default_rng(9)
    sink = SqlEventSink(store, rollup=True)
    early = _events(500, 50, since, rng, releases)  # ts since .. since + 4.9
    assert all(since <= e.ts < since + GUARD_SECONDS for e in early)
    sink.write(early, [])  # no segment yet: nothing rolled up
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)
    for start in range(550, 4000, 500):
        sink.write(_events(start, 500, since, rng, releases), [])
    _compare(store, releases, since, since + 4000)


def test_a_merged_guard_window_keeps_looks_exact(store: Store) -> None:
    """Once the segment's first seconds are merged into the roll-up (`merge_guard`), looks
    stop reading them, and guard requests written later (a slow request) are rolled up by
    the writers themselves."""
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    rng = np.random.default_rng(11)
    sink = SqlEventSink(store, rollup=True)
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)
    late = _events(520, 20, since, rng, releases)  # ts since + 2 .. since + 3.9
    sink.write(_events(0, 520, since, rng, releases), [])
    sink.write(_events(540, 960, since, rng, releases), [])
    assert merge_guard(store, FEATURE, since)
    assert not merge_guard(store, FEATURE, since)  # once
    _compare(store, releases, since, since + 4000)
    sink.write(late, [])
    for start in range(1500, 3000, 500):
        sink.write(_events(start, 500, since, rng, releases), [])
    _compare(store, releases, since, since + 4000)
