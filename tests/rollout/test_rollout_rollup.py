"""The roll-up (`rampway.rollout.rollup`, kept per batch by the event sink) against the
database's per-unit totals (`rampway.rollout.totals`, what the controller reads), on both
databases: rates and means to rounding, quantile guardrails within the bucket tolerance."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from rollout_helpers import (
    FEATURE,
    PROVABLE,
    FakeClock,
    Profile,
    Simulation,
    count_rows,
    gated_pair,
)
from rollout_helpers import plan as make_plan
from test_rollout_totals import GUARDRAILS

from rampway.events import RequestEvent
from rampway.events.retention import prune
from rampway.events.sink import SqlEventSink
from rampway.events.tables import request_events
from rampway.rollout import Controller, Plan
from rampway.rollout._judge import SRM_SETTLE_SECONDS, judge_totals
from rampway.rollout.metrics import metric_def
from rampway.rollout.rollup import (
    BUCKETS,
    GUARD_SECONDS,
    SETTLE_SECONDS,
    Sparse,
    _exceedance,
    load_look,
    merge_guard,
    open_segment,
)
from rampway.rollout.segments import replace
from rampway.rollout.tables import rollup_arms, rollup_segments, rollup_units
from rampway.rollout.totals import LookTotals, load_totals
from rampway.store import Store

FIELDS = [f.name for f in dataclasses.fields(RequestEvent)]
#: Quantile guardrails: the exceedance shares may differ by this much (the threshold is read
#: off 1%-wide buckets), the bounds by as much again.
SHARE_TOL = 0.01


def _compare(store: Store, releases: dict[str, str], since: float, until: float,
             unit: str = "user") -> None:
    window = {"feature": FEATURE, "releases": releases, "since": since, "until": until,
              "unit": unit}
    exact = load_totals(store, guardrails=GUARDRAILS, settle=SRM_SETTLE_SECONDS, **window)
    rolled = load_look(store, guardrails=GUARDRAILS, **window)
    assert rolled is not None
    assert_like_exact(rolled, exact)


def assert_like_exact(rolled: LookTotals, exact: LookTotals) -> None:
    """A look from the roll-up against the window's exact per-unit totals: rates and means to
    rounding, quantile guardrails within the bucket tolerance."""
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


def _plan(**overrides: Any) -> Plan:
    data: dict[str, Any] = {"steps": [{"weight": 40, "dwell": "1h"}, {"weight": 100}],
                            "guardrails": [g.model_dump() for g in GUARDRAILS]}
    return make_plan(**{**data, **overrides})


def _sim(store: Store, *, sink: bool = True, unit_feedback: bool = False,
         candidate: Profile | None = None, per_minute: int = 600, units: int = 400,
         **plan: Any) -> Simulation:
    """A rollout of `_plan(**plan)` under way (by default a worse candidate, one 40% step of
    an hour), its traffic written through the gateway's event sink (`sink`) or around it."""
    baseline, cand = gated_pair(store)
    clock = FakeClock()
    worse = Profile(error_p=0.08, latency_ms=900)
    sim = Simulation(store, Controller(store, clock=clock), clock,
                     {"baseline": baseline, "candidate": cand},
                     {"baseline": Profile(), "candidate": candidate or worse},
                     per_minute=per_minute, units=units, unit_feedback=unit_feedback,
                     sink=SqlEventSink(store) if sink else None)
    sim.controller.start(FEATURE, cand, actor="t", plan=_plan(**plan))
    return sim


@pytest.mark.parametrize("unit_feedback", [False, True])
def test_rollup_judges_like_the_database_totals(store: Store, unit_feedback: bool) -> None:
    """The step's segment opened by the controller, the traffic rolled up by the gateway's
    default sink: a look from two rows equals the window's per-unit totals."""
    sim = _sim(store, unit_feedback=unit_feedback)
    since = sim.clock.t
    for _ in range(3):
        sim.minute()
    _compare(store, sim.releases, since, sim.clock.t + 1)


def _evidence(controller: Controller, sim: Simulation) -> dict[str, Any]:
    evaluation = controller.evaluate(sim.rollout(), sim.controller.now())
    assert evaluation is not None
    return evaluation.as_dict()


def _same_evidence(rolled: dict[str, Any], exact: dict[str, Any]) -> None:
    """Two looks' evidence: same action, SRM check and verdicts; numbers equal to rounding,
    quantile guardrails' within the histogram's resolution (`_compare`)."""
    assert rolled["action"] == exact["action"]
    assert rolled["srm"] == exact["srm"]
    assert len(rolled["guardrails"]) == len(exact["guardrails"])
    for got, expected in zip(rolled["guardrails"], exact["guardrails"], strict=True):
        assert got["verdict"] == expected["verdict"], got["metric"]
        quantile = metric_def(got["metric"]).kind == "quantile"
        for field, value in expected.items():
            if isinstance(value, float) and not math.isnan(value):
                tol = {"rel_tol": 0.02, "abs_tol": SHARE_TOL} if quantile else \
                      {"rel_tol": 1e-9, "abs_tol": 1e-7}
                assert math.isclose(got[field], value, **tol), (got["metric"], field)
            elif not isinstance(value, float):
                assert got[field] == value, (got["metric"], field)


def test_the_controller_looks_at_the_rollup(store: Store) -> None:
    """Every look of a rollout whose traffic goes through the sink reads the roll-up, and
    judges as a look at the event log does; with the window's rows deleted from the event
    log, its looks do not change (the fallback's would: it would see no data)."""
    sim = _sim(store, guardrails=[g.model_dump() for g in GUARDRAILS
                                  if not g.metric.startswith("feedback:")])
    for _ in range(5):
        sim.minute()
    controller = sim.controller
    assert controller.looks == {"rollup": 5}
    exact = Controller(store, clock=sim.clock, rollup=False)
    rolled = _evidence(controller, sim)
    _same_evidence(rolled, _evidence(exact, sim))
    assert exact.looks == {"events": 1} and controller.looks == {"rollup": 6}
    with store.transaction() as conn:
        conn.execute(request_events.delete().where(request_events.c.feature == FEATURE))
    assert _evidence(controller, sim) == rolled
    assert controller.looks == {"rollup": 7}
    assert _evidence(exact, sim)["action"] == "hold"  # no data left to judge


def test_looks_read_the_event_log_when_events_bypass_the_rollup(store: Store) -> None:
    """Rows inserted around the sink (a custom sink, an old gateway): the roll-up's spot check
    of the window's newest requests sees it, and the looks read the event log."""
    sim = _sim(store, sink=False)
    for _ in range(3):
        sim.minute()
    assert sim.controller.looks == {"events": 3}
    exact = Controller(store, clock=sim.clock, rollup=False)
    assert _evidence(sim.controller, sim) == _evidence(exact, sim)


def test_a_session_rollout_rolls_up_sessions(store: Store) -> None:
    """`unit: session`: the step's segment counts sessions, and its looks read it."""
    sim = _sim(store, unit="session")
    sim.minute()
    assert sim.controller.looks == {"rollup": 1}
    with store.reading() as conn:
        assert conn.execute(sa.select(rollup_segments.c.unit)).scalars().all() == ["session"]


def test_the_rollup_by_session_judges_like_the_database_totals(store: Store) -> None:
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since, "session")
    rng = np.random.default_rng(13)
    sink = SqlEventSink(store)
    for start in range(0, 3000, 500):
        sink.write(_events(start, 500, since, rng, releases), [])
    _compare(store, releases, since, since + 3000, unit="session")
    window = {"feature": FEATURE, "releases": releases, "since": since, "until": since + 3000}
    assert load_look(store, guardrails=GUARDRAILS, **window) is None  # not by user


def test_a_look_past_the_newest_request_is_covered_and_one_before_it_is_not(
    store: Store,
) -> None:
    sim = _sim(store)
    since = sim.clock.t
    for _ in range(2):
        sim.minute()
    window = {"feature": FEATURE, "releases": sim.releases, "guardrails": GUARDRAILS,
              "since": since}
    assert load_look(store, until=sim.clock.t, **window) is not None
    assert load_look(store, until=sim.clock.t - 30, **window) is None  # the roll-up has no end
    assert load_look(store, until=sim.clock.t, **{**window, "since": since + 1}) is None


@pytest.mark.slow
def test_each_step_has_one_segment_and_finished_steps_rows_are_pruned(store: Store) -> None:
    """The controller opens the step's segment with the step, merges its first seconds 30 s
    in, replaces it with the next step's, drops it when the rollout finishes; its looks prune
    the finished steps' rows."""
    sim = _sim(store, candidate=Profile(), per_minute=3000, units=20_000, guardrails=PROVABLE,
               steps=[{"weight": 40, "dwell": "3m"}, {"weight": 60, "dwell": "3m"},
                      {"weight": 100}])

    def spans() -> list[tuple[float, bool]]:
        with store.reading() as conn:
            return [(r.since, r.merged) for r in conn.execute(sa.select(rollup_segments))]

    first = sim.rollout().step_started_at
    assert first is not None and spans() == [(first.timestamp(), False)]
    sim.minute()
    assert spans() == [(first.timestamp(), True)]  # looked at 60 s in: merged
    for _ in range(10):
        if sim.rollout().step > 0:
            break
        sim.minute()
    second = sim.rollout().step_started_at
    assert second is not None and spans() == [(second.timestamp(), False)]
    assert sim.controller.look() is not None  # holds the lease: prunes
    with store.reading() as conn:
        assert set(conn.execute(sa.select(rollup_arms.c.since).distinct()).scalars()) \
            <= {second.timestamp()}
        assert set(conn.execute(sa.select(rollup_units.c.since).distinct()).scalars()) \
            <= {second.timestamp()}
    done = sim.run(30)
    assert done.status.value == "completed"
    assert spans() == []
    assert sim.controller.looks["rollup"] >= 6 and "events" not in sim.controller.looks
    sim.controller.look()
    assert count_rows(store, rollup_arms) == count_rows(store, rollup_units) == 0


def test_event_retention_prunes_finished_rollup_rows(store: Store) -> None:
    releases = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
    since = 1000.0
    with store.transaction() as conn:
        open_segment(conn, FEATURE, since)
    SqlEventSink(store).write(_events(0, 2000, since, np.random.default_rng(2), releases), [])
    assert count_rows(store, rollup_units) > 0
    result = prune(store, 0.0)  # no event is that old
    assert (result.requests, result.rollup) == (0, 0)  # the segment is open: kept
    with store.transaction() as conn:
        replace(conn, FEATURE, None)
    units = count_rows(store, rollup_units)
    result = prune(store, 0.0, batch=50)  # in several transactions
    assert result.rollup == units and result.complete
    assert count_rows(store, rollup_arms) == count_rows(store, rollup_units) == 0
    assert count_rows(store, request_events) == 2000


def test_a_sink_without_open_segments_does_not_load_numpy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from rampway.store import Store\n"
        "from rampway.events import RequestEvent\n"
        "from rampway.events.sink import SqlEventSink\n"
        f"store = Store.open('sqlite:///{tmp_path / 'db.sqlite'}')\n"
        "SqlEventSink(store).write([RequestEvent(id='r1', ts=1.0, feature='f')], [])\n"
        "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False"]


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
            session_hash=None if i % 13 == 0 else f"s{unit}-{i % 4}",
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
    sink = SqlEventSink(store)  # rolls up by default
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
