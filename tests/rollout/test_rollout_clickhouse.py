"""A rollout judge's look on ClickHouse (`rampway.events.clickhouse.totals`, the embedded
engine) equals the SQL path's (`rampway.rollout.totals`, SQLite and PostgreSQL) over the same
events: request and unit counts (SRM), every metric kind (rates, means, quantile guardrails
either way, feedback by request and by unit), units by user and by session — and the
controller, given the events there, judges and moves rollouts from them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, gated_pair, plan
from test_rollout_totals import GUARDRAILS

from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import FeedbackEvent, RequestEvent, hash_unit
from rampway.events.sink import SqlEventSink
from rampway.rollout import Controller, Guardrail, Status
from rampway.rollout._judge import judge_totals
from rampway.rollout.totals import LookTotals, load_totals
from rampway.store import Store

ARMS = ("baseline", "candidate")


class Both:
    """Every batch to the SQL event log and to ClickHouse: the same events in both."""

    def __init__(self, store: Store, events: ClickHouseEvents) -> None:
        self.sql, self.clickhouse = SqlEventSink(store, rollup=False), events.sink()

    def write(self, requests: list[RequestEvent], feedback: list[FeedbackEvent]) -> None:
        self.sql.write(requests, feedback)
        self.clickhouse.write(requests, feedback)


def assert_same_look(got: LookTotals, want: LookTotals,
                     guardrails: list[Guardrail]) -> None:
    """Counts and quantiles exactly; each guardrail's judgement to rounding (the moments are
    summed on the server, in another order)."""
    assert got.requests == want.requests and got.units == want.units
    assert got.quantiles == want.quantiles  # the same two order statistics, interpolated alike
    for g, mine, theirs, quantiles in zip(guardrails, got.totals, want.totals, got.quantiles,
                                          strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert (a.observations, a.units) == (b.observations, b.units), g.metric
            assert math.isclose(a.mean, b.mean, rel_tol=1e-12) or (
                math.isnan(a.mean) and math.isnan(b.mean)), g.metric
        ours = judge_totals(*mine, g, alpha=0.01, quantiles=quantiles)
        expected = judge_totals(*theirs, g, alpha=0.01, quantiles=quantiles)
        assert ours.verdict is expected.verdict, g.metric
        for field in ("baseline_value", "candidate_value", "estimate", "lower", "upper"):
            a, b = getattr(ours, field), getattr(expected, field)
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (
                math.isnan(a) and math.isnan(b)), (g.metric, field, a, b)


def _simulate(store: Store, events: ClickHouseEvents, unit_feedback: bool) -> Simulation:
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    sim = Simulation(store, Controller(store, clock=clock), clock,
                     {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile(error_p=0.08, latency_ms=900)},
                     per_minute=600, units=400, unit_feedback=unit_feedback,
                     sink=Both(store, events))  # type: ignore[arg-type]
    sim.controller.start(FEATURE, candidate, actor="t", plan=plan(
        steps=[{"weight": 40, "dwell": "1h"}, {"weight": 100}],
        guardrails=[g.model_dump() for g in GUARDRAILS]))
    for _ in range(3):
        sim.minute()
    return sim


def _request(rid: str, ts: float, arm: str, release: str, unit: str | None,
             **fields: Any) -> RequestEvent:
    return RequestEvent(id=rid, ts=ts, feature=FEATURE, release_id=release, arm=arm,
                        unit_hash=None if unit is None else hash_unit(unit), **fields)


@pytest.mark.parametrize("unit_feedback", [False, True])
def test_a_look_on_clickhouse_equals_the_database_s(
    store: Store, chdb_events: ClickHouseEvents, unit_feedback: bool,
) -> None:
    sim = _simulate(store, chdb_events, unit_feedback)
    t = sim.clock.t
    # the edges: requests without a unit (each its own), of another release in an arm's name,
    # at the window's end; feedback tied to a request outside the window, and a unit's before
    # its first request
    base, cand = sim.releases["baseline"], sim.releases["candidate"]
    Both(store, chdb_events).write(
        [_request("alone-1", t - 30, "baseline", base, None, latency_ms=5000.0),
         _request("alone-2", t - 20, "candidate", cand, None, status="error"),
         _request("stale", t - 10, "candidate", base, "user-1"),
         _request("late", t + 1, "baseline", base, "user-2")],
        [FeedbackEvent(id="fb-alone", ts=t - 19, name="thumbs_up", value=1.0,
                       request_id="alone-2"),
         FeedbackEvent(id="fb-late", ts=t + 2, name="thumbs_up", value=0.0, request_id="late"),
         FeedbackEvent(id="fb-early", ts=t - 3 * 60 - 1, name="thumbs_up", value=0.0,
                       unit_hash=hash_unit("user-3"), feature=FEATURE)])
    window: dict[str, Any] = {"feature": FEATURE, "releases": sim.releases,
                              "since": t - 3 * 60, "until": t + 1, "settle": 30.0}
    want = load_totals(store, guardrails=GUARDRAILS, **window)
    got = chdb_events.load_look(guardrails=GUARDRAILS, **window)
    assert got.requests["candidate"] > 100 and got.units["candidate"] > 50
    assert_same_look(got, want, GUARDRAILS)


def test_a_look_by_session_on_clickhouse_equals_the_database_s(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    """Arms by session (a user in both), a request without a session, feedback by session,
    by user (not a session's) and by request."""
    rng = np.random.default_rng(3)
    releases = {"baseline": "support-bot@b", "candidate": "support-bot@c"}
    requests, feedback = [], []
    t = 1000.0
    for u in range(30):
        for s in range(3):
            session = f"u{u}-s{s}"
            arm = ARMS[(u * 3 + s) % 2]
            for k in range(int(rng.integers(1, 6))):
                t += 1
                requests.append(RequestEvent(
                    id=f"r-{session}-{k}", ts=t, feature=FEATURE, release_id=releases[arm],
                    arm=arm, unit_hash=hash_unit(f"user-{u}"), session_hash=hash_unit(session),
                    latency_ms=float(100 + 40 * rng.standard_normal() ** 2),
                    status="error" if rng.random() < 0.1 else "ok",
                    output_tokens=int(rng.integers(10, 300))))
            feedback.append(FeedbackEvent(id=f"fb-{session}", ts=t + 0.5, name="task_done",
                                          value=float(rng.integers(0, 2)),
                                          session_hash=hash_unit(session), feature=FEATURE))
    requests.append(RequestEvent(id="r-alone", ts=t + 1, feature=FEATURE,
                                 release_id=releases["baseline"], arm="baseline",
                                 unit_hash=hash_unit("user-0")))
    feedback += [FeedbackEvent(id="fb-user", ts=t + 2, name="task_done", value=1.0,
                               unit_hash=hash_unit("user-0"), feature=FEATURE),
                 FeedbackEvent(id="fb-req", ts=t + 3, name="task_done", value=0.0,
                               request_id="r-u0-s0-0")]
    Both(store, chdb_events).write(requests, feedback)
    guardrails = [Guardrail.model_validate(g) for g in (
        {"metric": "error_rate"}, {"metric": "latency_p95"},
        {"metric": "output_length", "bad": "decrease"}, {"metric": "feedback:task_done"})]
    window: dict[str, Any] = {"feature": FEATURE, "releases": releases, "since": 0.0,
                              "until": t + 100}
    for unit in ("session", "user"):
        want = load_totals(store, guardrails=guardrails, unit=unit, **window)
        got = chdb_events.load_look(guardrails=guardrails, unit=unit, **window)
        assert_same_look(got, want, guardrails)
    assert got.units == {"baseline": 30, "candidate": 30}  # by user: everyone in both arms


def test_an_empty_window_on_clickhouse_is_no_data(chdb_events: ClickHouseEvents) -> None:
    look = chdb_events.load_look(feature=FEATURE, releases={"baseline": "a", "candidate": "b"},
                                 guardrails=GUARDRAILS, since=0, until=1)
    assert look.requests == {"baseline": 0, "candidate": 0} and look.units == look.requests
    for g, pair, quantiles in zip(GUARDRAILS, look.totals, look.quantiles, strict=True):
        assert judge_totals(*pair, g, alpha=0.01, quantiles=quantiles).verdict == "no_data"


@pytest.mark.parametrize("bad", [False, True])
def test_the_controller_judges_the_events_in_clickhouse(
    store: Store, chdb_events: ClickHouseEvents, bad: bool,
) -> None:
    """Events only in ClickHouse: the controller given them looks there, and a good candidate
    completes while a failing one is rolled back; the main database holds no event."""
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    controller = Controller(store, clock=clock, events=chdb_events)
    profile = Profile(error_p=0.3) if bad else Profile()
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": profile}, per_minute=600, units=1000,
                     sink=chdb_events.sink())  # type: ignore[arg-type]
    controller.start(FEATURE, candidate, actor="t", plan=plan(
        steps=[{"weight": 50, "dwell": "2m"}, {"weight": 100}],
        guardrails=[{"metric": "error_rate", "critical": True, "min_sample": 100,
                     "margin": {"absolute": 0.05}},
                    {"metric": "latency_p95", "margin": {"relative": 0.5},
                     "min_sample": 100},
                    {"metric": "feedback:thumbs_up", "bad": "decrease",
                     "margin": {"absolute": 0.2}, "min_sample": 50}]))
    done = sim.run(30)
    assert done.status is (Status.ROLLED_BACK if bad else Status.COMPLETED)
    assert controller.looks["clickhouse"] >= 1 and set(controller.looks) == {"clickhouse"}
    assert done.evaluation is not None
    assert {g["metric"]: g["verdict"] for g in done.evaluation["guardrails"]}["error_rate"] == (
        "fail" if bad else "pass")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM request_events").scalar() == 0


def test_the_order_statistics_read_from_either_end_are_numpy_s_quantiles(
    chdb_events: ClickHouseEvents,
) -> None:
    """Below the median they are sorted from the bottom, from it on from the top: either way
    `linear_quantile`'s value (its interpolation, to the last bit; numpy's linear quantile to
    rounding), for any n (1, 2, many)."""
    from rampway.events.clickhouse.totals import _arm_quantiles
    from rampway.events.tables import request_events

    rng = np.random.default_rng(5)
    sizes = {"baseline": 1, "candidate": 2, "other": 1001}
    latencies = {arm: np.round(rng.lognormal(6, 1, n), 3) for arm, n in sizes.items()}
    chdb_events.sink().write([
        _request(f"{arm}-{i}", 1000.0 + i, arm, "r", f"u{i}", latency_ms=float(v))
        for arm, values in latencies.items() for i, v in enumerate(values)], [])
    qs = (0.0, 0.1, 0.37, 0.5, 0.95, 1.0)
    got = _arm_quantiles(chdb_events.backend, request_events.c.feature == FEATURE,
                         [("latency_ms", q) for q in qs])
    for arm, values in latencies.items():
        ordered = np.sort(values)
        for q in qs:
            pos = q * (len(values) - 1)
            lo = math.floor(pos)
            first, last = float(ordered[lo]), float(ordered[min(lo + 1, len(values) - 1)])
            assert got[arm, "latency_ms", q] == first + (last - first) * (pos - lo), (arm, q)
            assert math.isclose(got[arm, "latency_ms", q], float(np.quantile(values, q)),
                                rel_tol=1e-12)
