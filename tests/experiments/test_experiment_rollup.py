"""The experiments' roll-up (rampway.experiments.rollup), on SQLite and PostgreSQL: an analysis
read from it equals the one read from the event log, and falls back to the event log wherever
the roll-up cannot hold the window exactly."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from experiment_helpers import FEATURE, published
from experiment_helpers import definition as experiment_definition

from rampway.events.model import RequestEvent
from rampway.events.retention import prune
from rampway.events.sink import SqlEventSink
from rampway.experiments import repo
from rampway.experiments import rollup as r
from rampway.experiments.analysis import analyze
from rampway.experiments.extract import Extraction, load_rollup_units, load_units
from rampway.experiments.model import Arm, ExperimentRecord, Guardrail
from rampway.experiments.report import ExperimentReport, render_text, to_json
from rampway.experiments.tables import (
    experiment_rollup_latency,
    experiment_rollup_segments,
    experiment_rollup_unit_latency,
    experiment_rollup_units,
)
from rampway.store import Store

T0 = 1_700_000_000.0
DAY = 86_400.0
ARMS = (Arm("control", "support-bot@c", 5000), Arm("friendly", "support-bot@t", 5000))
#: every metric the roll-up can serve
ROLLED = dict(primary="error_rate",
              secondary=("refusal_rate", "latency_ms", "cost_per_request", "output_tokens",
                         "cost_per_unit", "requests_per_unit", "retention:1d"),
              guardrails=(Guardrail("error_rate", "increase"),
                          Guardrail("cost_per_unit", "increase")))


def record(*, eid: int = 1, unit: str = "user", stopped_at: float | None = None,
           **metrics: Any) -> ExperimentRecord:
    chosen = {**ROLLED, **metrics}
    return ExperimentRecord(
        id=eid, name="tone", feature=FEATURE, status="running" if stopped_at is None
        else "stopped", arms=ARMS, coverage_bp=10_000, salt="s", unit=unit,
        alpha=0.05, min_runtime_s=DAY, started_at=T0, stopped_at=stopped_at, **chosen)


def traffic(start: int, n: int, seed: int, *, t0: float = T0 - 60.0, step: float = 40.0,
            ) -> list[RequestEvent]:
    """Requests of ~150 users over a few days: most in one arm, some in both (multiple
    exposures), and rows that are not the experiment's (another feature, no unit, another
    arm, another release)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        user = int(rng.integers(150))
        arm = ARMS[user % 2] if user % 17 else ARMS[int(rng.integers(2))]
        name, release = arm.name, arm.release_id
        if i % 23 == 0:
            name, release = "production", "support-bot@p"
        elif i % 29 == 0:
            release = "support-bot@other"
        ok = rng.random() > 0.05 * (1 + user % 3)
        out.append(RequestEvent(
            id=f"r{i}", ts=t0 + i * step + float(rng.random()),
            feature=FEATURE if i % 13 else "other-bot", release_id=release, arm=name,
            unit_hash=None if i % 31 == 0 else f"u{user}",
            session_hash=None if i % 37 == 0 else f"s{user}-{i % 5}",
            status="ok" if ok else "error", latency_ms=float(rng.lognormal(6, 0.5)),
            cost_usd=float(rng.random()) * 0.01, output_tokens=int(rng.integers(1, 400)),
            refusal=bool(rng.random() < 0.05)))
    return out


def write(store: Store, events: list[RequestEvent], batch: int = 250, **sink: Any) -> None:
    writer = SqlEventSink(store, **sink)
    for lo in range(0, len(events), batch):
        writer.write(events[lo:lo + batch], [])


def write_concurrently(store: Store, events: list[RequestEvent]) -> None:
    """Half the requests each through two sinks writing at once (batches of 200)."""
    ready = threading.Barrier(2)

    def run(part: list[RequestEvent]) -> None:
        ready.wait()
        write(store, part, batch=200)

    threads = [threading.Thread(target=run, args=(events[k::2],)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def open_segment(store: Store, rec: ExperimentRecord, cutoff: float | None = None) -> None:
    with store.transaction() as conn:
        r.open_segment(conn, rec.id, rec.feature, rec.started_at,
                       rec.started_at + r.GUARD_SECONDS if cutoff is None else cutoff,
                       rec.unit, rec.arms)


def rows(extraction: Extraction) -> dict[str, np.ndarray]:
    """Per arm, its units' columns as rows, sorted (the two paths list units in any order)."""
    out = {}
    for arm in extraction.arms:
        table = np.column_stack([arm.columns[c] for c in sorted(arm.columns)])
        out[arm.arm] = table[np.lexsort(table.T[::-1])] if table.size else table
    return out


def assert_same_units(rolled: Extraction, exact: Extraction) -> None:
    assert (rolled.multiple_exposures, rolled.multiple_exposure_requests) == (
        exact.multiple_exposures, exact.multiple_exposure_requests)
    a, b = rows(rolled), rows(exact)
    assert a.keys() == b.keys()
    for arm in a:
        assert a[arm].shape == b[arm].shape
        np.testing.assert_allclose(a[arm], b[arm], rtol=1e-12, atol=1e-12)


def numbers(report: ExperimentReport) -> Any:
    doc = to_json(report)
    doc.pop("source")
    return doc


def assert_close(a: Any, b: Any, where: str = "") -> None:
    """JSON documents equal, numbers to 1e-9 (the two paths sum floats in other orders)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool) and isinstance(b, int | float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, where


def assert_same_report(rolled: ExperimentReport, exact: ExperimentReport) -> None:
    assert rolled.source == "rollup", rolled.source_why
    assert exact.source == "events"
    assert_close(numbers(rolled), numbers(exact))


def _exact(store: Store, rec: ExperimentRecord, until: float) -> Extraction:
    return load_units(store, feature=rec.feature, arms=rec.arms, since=rec.started_at,
                      until=until, unit=rec.unit)


def _rolled(store: Store, rec: ExperimentRecord, until: float) -> tuple[Extraction | None, str]:
    return load_rollup_units(store, experiment_id=rec.id, arms=rec.arms, since=rec.started_at,
                             until=until, unit=rec.unit)


@pytest.mark.parametrize("unit", ["user", "session"])
def test_the_rollup_holds_the_units_the_event_log_has(store: Store, unit: str) -> None:
    rec = record(unit=unit)
    open_segment(store, rec)
    events = traffic(0, 3000, seed=1)
    write(store, events)
    assert r.merge(store, rec.id)  # the first seconds, from the event log, once
    assert not r.merge(store, rec.id)
    until = max(e.ts for e in events)
    rolled, why = _rolled(store, rec, until)
    assert rolled is not None, why
    exact = _exact(store, rec, until)
    assert exact.multiple_exposures > 0 and sum(a.units for a in exact.arms) > 100
    assert_same_units(rolled, exact)
    now = until + 1
    assert_same_report(analyze(store, rec, now=now), analyze(store, rec, now=now, rollup=False))


def test_a_stopped_experiment_is_read_from_its_rollup_up_to_the_stop(store: Store) -> None:
    events = traffic(0, 3000, seed=2)
    stop = events[2000].ts
    rec = record(stopped_at=stop)
    open_segment(store, rec)
    with store.transaction() as conn:
        r.close(conn, rec.id, stop)
    write(store, events)
    report = analyze(store, rec, now=stop + 10 * DAY)
    assert_same_report(report, analyze(store, rec, now=stop + 10 * DAY, rollup=False))
    assert report.until == stop


def test_a_window_the_rollup_does_not_hold_reads_the_event_log_and_says_why(
        store: Store) -> None:
    """Every metric is served by the roll-up (feedback joined to its units, quantiles off its
    histograms); what sends an analysis to the event log is a roll-up that does not hold the
    window — here requests written by a sink that keeps none — and the report says why."""
    rec = replace(record(), primary="feedback:thumbs", secondary=("latency_p95",))
    open_segment(store, rec)
    write(store, traffic(0, 500, seed=3))
    now = T0 + 5 * DAY
    rolled = analyze(store, rec, now=now)
    assert rolled.source == "rollup"
    assert "read from: the experiment's roll-up (a row per unit)\n" in render_text(rolled)
    write(store, traffic(500, 20, seed=5), rollup=False)
    report = analyze(store, rec, now=now)
    why = "requests of the window were not rolled up"
    assert (report.source, report.source_why[:len(why)]) == ("events", why)
    assert to_json(report)["source"] == {"read": "events", "why": report.source_why}
    assert (f"read from: the event log (the window's requests) ({report.source_why})"
            in render_text(report, width=200))


def test_an_analysis_before_the_newest_rolled_request_reads_the_event_log(
        store: Store) -> None:
    """The roll-up has no end while running: an analysis "as it stood" earlier finds units
    with requests after its time, and reads the event log — with the same numbers as the
    event log's path."""
    rec = record()
    open_segment(store, rec)
    events = traffic(0, 3000, seed=4)
    write(store, events)
    earlier = events[1500].ts
    report = analyze(store, rec, now=earlier)
    assert (report.source, report.source_why) == (
        "events", "the roll-up holds requests after the analysis time")
    exact = analyze(store, rec, now=earlier, rollup=False)
    assert numbers(report) == numbers(exact)
    assert analyze(store, rec, now=events[-1].ts).source == "rollup"


def test_requests_written_around_the_rollup_send_the_analysis_to_the_event_log(
        store: Store) -> None:
    rec = record()
    open_segment(store, rec)
    events = traffic(0, 2000, seed=5)
    write(store, events[:1500])
    write(store, events[1500:], rollup=False)  # a sink that does not keep it
    report = analyze(store, rec, now=events[-1].ts + 1)
    assert (report.source, report.source_why) == (
        "events", "requests of the window were not rolled up (written by another sink)")
    assert numbers(report) == numbers(analyze(store, rec, now=events[-1].ts + 1,
                                              rollup=False))


def test_a_segment_is_merged_only_once_its_first_seconds_are_over(store: Store) -> None:
    """An experiment running before the roll-up existed: the analysis opens its segment (the
    sinks roll up from a few seconds on), reads the event log until the segment's first
    seconds are over, then backfills them in one statement and reads the roll-up."""
    rec = record()
    events = traffic(0, 3000, seed=6)
    write(store, events[:2000])  # before any segment: not rolled up
    wall = time.time()
    first = analyze(store, rec, now=events[-1].ts + 1)
    assert (first.source, first.source_why) == (
        "events", "the roll-up's first seconds are not merged yet")
    with store.reading() as conn:
        segment = r.get(conn, rec.id)
    assert segment is not None and not segment.merged
    assert wall + r.GUARD_SECONDS <= segment.cutoff <= time.time() + r.GUARD_SECONDS
    # the bench's data lie in the past: move the segment's cutoff between the two halves
    with store.transaction() as conn:
        conn.execute(experiment_rollup_segments.update().values(cutoff=events[2000].ts))
    write(store, events[2000:])  # rolled up by the sink: at or after the cutoff
    assert r.prepare(store, rec, wall=events[2000].ts + r.MERGE_AFTER_SECONDS - 1) is not None
    with store.reading() as conn:
        assert not r.get(conn, rec.id).merged  # type: ignore[union-attr]
    now = events[-1].ts + 1
    report = analyze(store, rec, now=now)  # the clock is far past the cutoff: merges
    assert_same_report(report, analyze(store, rec, now=now, rollup=False))


def test_late_requests_of_the_first_seconds_are_rolled_up_after_the_merge(
        store: Store) -> None:
    rec = record()
    open_segment(store, rec)
    events = traffic(0, 2000, seed=7, t0=T0 - 1.0, step=0.004)  # 8 s: across the cutoff
    late = [e for e in events if T0 <= e.ts < T0 + r.GUARD_SECONDS][::3]
    write(store, [e for e in events if e not in late])
    r.merge(store, rec.id)
    write(store, late)  # a batch that was held up: its requests are rolled up now
    until = max(e.ts for e in events)
    rolled, why = _rolled(store, rec, until)
    assert rolled is not None, why
    assert_same_units(rolled, _exact(store, rec, until))


def test_concurrent_sinks_keep_one_consistent_rollup(store: Store) -> None:
    """Two writers (threads with their own sinks, as two gateways) adding to the same units:
    each upsert adds its batch's sums to the stored row, whatever the interleaving."""
    rec = record()
    open_segment(store, rec)
    events = traffic(0, 6000, seed=8)
    write_concurrently(store, events)
    r.merge(store, rec.id)
    until = max(e.ts for e in events)
    rolled, why = _rolled(store, rec, until)
    assert rolled is not None, why
    assert_same_units(rolled, _exact(store, rec, until))


def test_start_opens_the_segment_stop_closes_it_and_the_next_start_replaces_it(
        store: Store) -> None:
    ids = published(store)
    definition = experiment_definition(primary="error_rate")
    started = round(time.time() - 3600, 6)  # as stored: to the microsecond
    first = repo.start(store, "tone", definition, ids, actor="ana", reason="try it",
                       now=started)
    with store.reading() as conn:
        segment = r.get(conn, first.id)
    assert segment == r.Segment(first.id, FEATURE, started, started + r.GUARD_SECONDS, None,
                                False, "user", tuple((a.name, a.release_id)
                                                     for a in first.arms))
    arms = {a.name: a for a in first.arms}
    served = [RequestEvent(id=f"q{i}", ts=started + 10 + i, feature=FEATURE,
                           release_id=arms[name].release_id, arm=name, unit_hash=f"u{i % 40}",
                           status="error" if i % 9 == 0 else "ok", latency_ms=100.0 + i)
              for i, name in enumerate(["control", "treatment1"] * 200)]
    write(store, served[:300])
    stopped = repo.stop(store, first, actor="ana", reason="enough", now=served[299].ts)
    write(store, served[300:])  # after the stop: not the experiment's
    with store.reading() as conn:
        assert r.get(conn, first.id).until == served[299].ts  # type: ignore[union-attr]
    report = analyze(store, stopped)
    assert report.source == "rollup", report.source_why
    assert_same_report(report, analyze(store, stopped, rollup=False))
    assert report.requests == 300

    second = repo.start(store, "tone", definition, ids, actor="ana", reason="again",
                        now=time.time())
    with store.reading() as conn:
        assert r.get(conn, first.id) is None and r.get(conn, second.id) is not None
    assert analyze(store, stopped).source_why == "the experiment has no roll-up"
    with store.reading() as conn:
        rows = sum(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0
                   for t in (experiment_rollup_units, experiment_rollup_latency,
                             experiment_rollup_unit_latency))
    left, done = r.prune_finished(store, batch=7)
    assert (left, done) == (rows, True) and rows > 40
    with store.reading() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(
            experiment_rollup_units)) == 0


def test_event_retention_prunes_the_rows_of_replaced_experiments(store: Store) -> None:
    rec = record()
    open_segment(store, rec)
    write(store, traffic(0, 600, seed=9))
    with store.reading() as conn:
        units = conn.scalar(sa.select(sa.func.count()).select_from(experiment_rollup_units))
        units += sum(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0
                     for t in (experiment_rollup_latency, experiment_rollup_unit_latency))
    assert units
    open_segment(store, replace(rec, id=2))  # the feature's next experiment
    result = prune(store, 0.0, batch=50)
    assert result.rollup == units and result.complete


def test_the_guard_and_merge_delays_match_the_judge() -> None:
    from rampway.rollout import rollup as judge

    assert r.GUARD_SECONDS == judge.GUARD_SECONDS
    assert math.isclose(r.GUARD_SECONDS + r.MERGE_AFTER_SECONDS, 30.0)


def test_a_request_with_a_nan_latency_is_stored_and_rolled_up(store: Store) -> None:
    """PostgreSQL stores a NaN latency (SQLite refuses it as NULL: not this roll-up's concern);
    the roll-up's JSON rows must not make its batch fail."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NaN as NULL, which latency_ms refuses")
    rec = record()
    open_segment(store, rec)
    events = traffic(0, 300, seed=12)
    events[100] = replace(events[100], feature=FEATURE, arm="control",
                          release_id=ARMS[0].release_id, unit_hash="u-nan", status="ok",
                          latency_ms=math.nan, cost_usd=math.inf)
    write(store, events)
    with store.reading() as conn:
        row = conn.execute(sa.select(experiment_rollup_units.c.latency_ms_sum,
                                     experiment_rollup_units.c.cost_usd_sum).where(
            experiment_rollup_units.c.unit == "u-nan")).one()
    assert math.isnan(row[0]) and row[1] == math.inf
