"""Feedback metrics read from the experiments' roll-up (rampway.experiments.rollup_feedback), on
SQLite and PostgreSQL: per unit the same counts, sums and conversions as the event log's path,
for every way a feedback event finds its unit (or does not), and the same report."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import sqlalchemy as sa
from test_experiment_rollup import (
    T0,
    assert_same_report,
    assert_same_units,
    numbers,
    open_segment,
    record,
    traffic,
)

from rampway.events.model import FeedbackEvent, RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.events.tables import feedback_events
from rampway.experiments import rollup as r
from rampway.experiments.analysis import analyze
from rampway.experiments.extract import Extraction, load_rollup_units, load_units
from rampway.experiments.model import ExperimentRecord
from rampway.store import Store

NAMES = ("thumbs", "rating")
FEEDBACK = dict(primary="feedback:thumbs",
                secondary=("conversion:thumbs", "feedback:rating", "conversion:rating",
                           "error_rate", "cost_per_unit"))


def feedback_for(events: list[RequestEvent], seed: int) -> list[FeedbackEvent]:
    """Feedback of every kind the rules tell apart: naming a request (only), naming a request
    with an own unit or session that differs from the request's, a unit or a session only
    (some before the unit's first request), another feature's, untagged, and values of 0 and
    below (a conversion needs > 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, e in enumerate(events):
        if rng.random() > 0.5:
            continue
        kind = k % 7
        user = (e.unit_hash or "u0")[1:]
        ts = e.ts + float(rng.uniform(-3 * 3600, 6 * 3600))  # some before the unit's exposure
        common = dict(id=f"fb{e.id}", ts=ts, name=NAMES[k % 2],
                      value=float(rng.choice([-1.0, 0.0, 1.0, 2.5])))
        if kind in (0, 1):  # the request only: its unit and session, from the request
            fb = FeedbackEvent(request_id=e.id, **common)
        elif kind == 2:  # an own unit beside the request: the own one counts for users
            fb = FeedbackEvent(request_id=e.id, unit_hash=f"u{(int(user) + 1) % 150}",
                               **common)
        elif kind == 3:  # an own session beside the request
            fb = FeedbackEvent(request_id=e.id, session_hash=f"s{user}-9", **common)
        elif kind == 4:  # a unit only, this feature's or untagged
            fb = FeedbackEvent(unit_hash=f"u{user}", feature=None if k % 3 else "support-bot",
                               **common)
        elif kind == 5:  # a session only
            fb = FeedbackEvent(session_hash=e.session_hash, **common)
        else:  # another feature's: never this experiment's
            fb = FeedbackEvent(request_id=e.id, feature="other-bot", **common)
        out.append(fb)
    return out


def write_mixed(store: Store, events: list[RequestEvent], feedback: list[FeedbackEvent],
                batch: int = 250) -> None:
    """Requests and feedback through the SQL sink, in batches where a feedback event shares
    its request's batch, follows it, or comes before it (its request written later)."""
    by_request = {f.request_id: f for f in feedback if f.request_id is not None}
    others = [f for f in feedback if f.request_id is None]
    early = [by_request.pop(e.id) for e in events[::9] if e.id in by_request]
    sink = SqlEventSink(store)
    sink.write([], early)  # before their requests: the sink cannot fill their units
    starts = range(0, len(events), batch)
    for k, lo in enumerate(starts):
        part = events[lo:lo + batch]
        mine = [by_request.pop(e.id) for e in part if e.id in by_request]
        same, later = mine[::2], mine[1::2]
        sink.write(part, same + others[k::len(starts)])
        if later:
            sink.write([], later)  # after their request's batch: looked up
    assert not by_request


def extracted(store: Store, rec: ExperimentRecord, until: float,
              ) -> tuple[Extraction, Extraction]:
    rolled, why = load_rollup_units(store, experiment_id=rec.id, arms=rec.arms,
                                    since=rec.started_at, until=until, unit=rec.unit,
                                    feedback=NAMES)
    assert rolled is not None, why
    exact = load_units(store, feature=rec.feature, arms=rec.arms, since=rec.started_at,
                       until=until, unit=rec.unit, feedback=NAMES)
    return rolled, exact


@pytest.mark.parametrize("unit", ["user", "session"])
def test_feedback_metrics_from_the_rollup_equal_the_event_logs(store: Store, unit: str) -> None:
    rec = record(unit=unit, **FEEDBACK)
    open_segment(store, rec)
    events = traffic(0, 2500, seed=11)
    feedback = feedback_for(events, seed=12)
    write_mixed(store, events, feedback)
    assert r.merge(store, rec.id)
    fb = feedback_events.c
    with store.reading() as conn:
        unresolved = conn.scalar(sa.select(sa.func.count()).where(
            fb.request_id.is_not(None), fb.unit_hash.is_(None), fb.session_hash.is_(None)))
    assert unresolved and unresolved > 20  # the ones written before their request
    until = events[-1].ts + 1  # feedback up to 6 h later too: not counted
    with store.reading() as conn:
        assert conn.scalar(sa.select(sa.func.count()).where(fb.ts > until)) > 10
    rolled, exact = extracted(store, rec, until)
    counted = sum(float(a.column(f"feedback_count:{n}").sum()) for a in exact.arms
                  for n in NAMES)
    assert counted > 300
    assert_same_units(rolled, exact)
    report = analyze(store, rec, now=until)
    assert_same_report(report, analyze(store, rec, now=until, rollup=False))
    assert report.source_why == ""


def test_each_rule_counts_as_the_event_log_says(store: Store) -> None:
    """One unit, one event of each kind, counted by hand: a rule the roll-up's path broke
    would change these numbers (the event log's path gives the same ones)."""
    rec = record(**FEEDBACK)
    open_segment(store, rec)
    arm = rec.arms[0]
    first = T0 + 100.0

    def req(i: int, ts: float, unit: str | None = "u0", feature: str = "support-bot",
            ) -> RequestEvent:
        return RequestEvent(id=f"r{i}", ts=ts, feature=feature, release_id=arm.release_id,
                            arm=arm.name, unit_hash=unit, session_hash=f"s{i}")

    requests = [req(1, first), req(2, first + 50), req(3, first + 60, unit="u9"),
                req(4, first + 70, feature="other-bot")]
    late = req(5, first + 80)  # written after the feedback that names it
    sink = SqlEventSink(store)
    sink.write([], [FeedbackEvent(id="f_early", ts=first + 90, name="thumbs", value=7.0,
                                  request_id="r5")])
    sink.write(requests[:2], [
        FeedbackEvent(id="f_same", ts=first + 10, name="thumbs", value=1.0, request_id="r1"),
        FeedbackEvent(id="f_before", ts=first - 1, name="thumbs", value=100.0, unit_hash="u0"),
    ])
    sink.write(requests[2:] + [late], [])
    sink.write([], [
        FeedbackEvent(id="f_named", ts=first + 20, name="thumbs", value=2.0, request_id="r2"),
        FeedbackEvent(id="f_own", ts=first + 30, name="thumbs", value=0.0, request_id="r3",
                      unit_hash="u0"),  # names u9's request but says u0: u0's
        FeedbackEvent(id="f_other_req", ts=first + 40, name="thumbs", value=4.0,
                      request_id="r4"),  # another feature's request of u0, untagged: u0's
        FeedbackEvent(id="f_tagged", ts=first + 40, name="thumbs", value=50.0,
                      request_id="r1", feature="other-bot"),
        FeedbackEvent(id="f_after", ts=first + 500, name="thumbs", value=60.0, unit_hash="u0"),
        FeedbackEvent(id="f_rating", ts=first + 45, name="rating", value=-3.0, unit_hash="u0"),
    ])
    r.merge(store, rec.id)
    until = first + 200
    rolled, exact = extracted(store, rec, until)
    assert_same_units(rolled, exact)
    arm_units = rolled.arm("control")
    assert arm_units.units == 2  # u0 and u9
    u0 = int(np.argmin(arm_units.columns["first_ts"]))
    control = {k: float(v[u0]) for k, v in arm_units.columns.items()
               if k == "first_ts" or k.split(":")[0] in ("feedback_count", "feedback_sum",
                                                        "converted")}
    # f_same 1 + f_named 2 + f_own 0 + f_other_req 4 + f_early 7 (r5, filled by nobody)
    assert control == {"first_ts": first, "feedback_count:thumbs": 5.0,
                       "feedback_sum:thumbs": 14.0, "converted:thumbs": 1.0,
                       "feedback_count:rating": 1.0, "feedback_sum:rating": -3.0,
                       "converted:rating": 0.0}
    now = until
    assert numbers(analyze(store, rec, now=now)) == numbers(
        analyze(store, rec, now=now, rollup=False))


def test_feedback_metrics_name_the_rollup_as_their_source(store: Store) -> None:
    rec = record(**FEEDBACK)
    open_segment(store, rec)
    events = traffic(0, 400, seed=13)
    write_mixed(store, events, feedback_for(events, seed=14))
    r.merge(store, rec.id)
    report = analyze(store, rec, now=events[-1].ts + 1)
    assert (report.source, report.source_why) == ("rollup", "")
    # with a quantile too: the latency histograms serve it beside the feedback
    quantile = analyze(store, replace(rec, secondary=("latency_p95",)), now=events[-1].ts + 1)
    assert (quantile.source, quantile.source_why) == ("rollup", "")
