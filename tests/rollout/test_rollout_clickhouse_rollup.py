"""The judge's roll-up kept by the ClickHouse sink in the control database (`ClickHouseSink(
backend, store)`, `rampway.rollout.batches`): on the same traffic its look equals the ClickHouse
event log's look and the SQL path's (rates and means to rounding, quantile guardrails within the
histogram's bucket tolerance), a batch retried after a lost acknowledgement is counted once,
and what the ledger guards against — a refused batch, a merge racing a batch, a batch lost
between its insert and its roll-up — leaves looks exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from rollout_helpers import FEATURE, FakeClock, Profile, Simulation, count_rows, gated_pair, plan
from test_rollout_clickhouse import Both
from test_rollout_rollup import _events, assert_like_exact
from test_rollout_totals import GUARDRAILS

from rampway.errors import StoreError
from rampway.events.clickhouse.sink import batch_token
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.rollout import Controller
from rampway.rollout._judge import SRM_SETTLE_SECONDS
from rampway.rollout.batches import STALE_AFTER_S
from rampway.rollout.rollup import load_look, merge_guard, open_segment, read_arm
from rampway.rollout.segments import get
from rampway.rollout.tables import rollup_batches
from rampway.rollout.totals import load_totals
from rampway.store import Store

RELEASES = {"baseline": "support-bot@aaaa", "candidate": "support-bot@bbbb"}
SINCE = 1000.0
REQUEST_GUARDRAILS = [g for g in GUARDRAILS if not g.metric.startswith("feedback:")]


class Rolling(Both):
    """Every batch to the SQL event log (not rolled up there) and through the ClickHouse sink
    that keeps the roll-up in the same control database."""

    def __init__(self, store: Store, events: ClickHouseEvents) -> None:
        self.sql, self.clickhouse = SqlEventSink(store, rollup=False), events.sink(store)


def _three_looks(store: Store, events: ClickHouseEvents, since: float, until: float) -> None:
    """The roll-up's look (read here, the event log there) against the SQL path's exact look,
    and the ClickHouse event log's exact look against the SQL path's."""
    window: dict[str, Any] = {"feature": FEATURE, "releases": RELEASES, "since": since,
                              "until": until, "guardrails": GUARDRAILS}
    exact = load_totals(store, settle=SRM_SETTLE_SECONDS, **window)
    rolled = load_look(store, events=events.guard(), **window)
    assert rolled is not None
    assert_like_exact(rolled, exact)
    assert_like_exact(rolled, events.load_look(settle=SRM_SETTLE_SECONDS, **window))
    assert rolled.requests["candidate"] > 0


@pytest.mark.parametrize("unit_feedback", [False, True])
def test_the_rollup_of_events_in_clickhouse_judges_like_both_event_logs(
    store: Store, chdb_events: ClickHouseEvents, unit_feedback: bool,
) -> None:
    """The controller given the events in ClickHouse opens the step's segment, the sink rolls
    the traffic up in the control database, and every look reads it (its guard seconds and
    feedback from ClickHouse): the same numbers as the two event logs' looks."""
    baseline, candidate = gated_pair(store)
    clock = FakeClock()
    controller = Controller(store, clock=clock, events=chdb_events)
    sim = Simulation(store, controller, clock, {"baseline": baseline, "candidate": candidate},
                     {"baseline": Profile(), "candidate": Profile(error_p=0.08, latency_ms=900)},
                     per_minute=600, units=400, unit_feedback=unit_feedback,
                     sink=Rolling(store, chdb_events))  # type: ignore[arg-type]
    controller.start(FEATURE, candidate, actor="t", plan=plan(
        steps=[{"weight": 40, "dwell": "1h"}, {"weight": 100}],
        guardrails=[g.model_dump() for g in GUARDRAILS]))
    since = clock.t
    for _ in range(3):
        sim.minute()
    assert controller.looks == {"rollup": 3}
    segment = _segment(store, since)
    assert segment is not None and segment.merged  # merged from ClickHouse, 30 s in
    window: dict[str, Any] = {"feature": FEATURE, "releases": sim.releases, "since": since,
                              "until": clock.t + 1}
    exact = load_totals(store, guardrails=GUARDRAILS, settle=SRM_SETTLE_SECONDS, **window)
    rolled = load_look(store, guardrails=GUARDRAILS, events=chdb_events.guard(), **window)
    assert rolled is not None
    assert_like_exact(rolled, exact)
    assert_like_exact(rolled, chdb_events.load_look(guardrails=GUARDRAILS,
                                                    settle=SRM_SETTLE_SECONDS, **window))


def _segment(store: Store, since: float) -> Any:
    with store.reading() as conn:
        return get(conn, FEATURE, since)


def _moments(store: Store) -> list[list[float]]:
    with store.reading() as conn:
        return [read_arm(conn, FEATURE, SINCE, RELEASES[arm], arm).tolist()
                for arm in ("baseline", "candidate")]


def _clickhouse_count(events: ClickHouseEvents) -> int:
    (found,) = events.backend.columns("SELECT count() FROM request_events")
    return int(found[0])


def _open(store: Store) -> None:
    with store.transaction() as conn:
        open_segment(conn, FEATURE, SINCE)


def test_a_retried_batch_is_rolled_up_once(store: Store, chdb_events: ClickHouseEvents,
                                           ) -> None:
    """A batch written again after its acknowledgement was lost — after the whole write, or
    after its ClickHouse insert only (the roll-up failed) — is stored once in ClickHouse and
    rolled up once: the look equals both event logs'."""
    _open(store)
    rng = np.random.default_rng(21)
    sql, sink = SqlEventSink(store, rollup=False), chdb_events.sink(store)
    written = [_events(start, 500, SINCE, rng, RELEASES) for start in range(0, 3000, 500)]
    for batch in written[:4]:
        sql.write(batch, [])
        sink.write(batch, [])
    before, stored = _moments(store), _clickhouse_count(chdb_events)
    sink.write(written[3], [])  # the whole write repeated
    assert _moments(store) == before and _clickhouse_count(chdb_events) == stored
    # the insert acknowledged, the roll-up not: reserved, inserted, then the retry
    sql.write(written[4], [])
    assert sink._reserve(store, batch_token(written[4]), written[4])
    chdb_events.sink().write(written[4], [])  # the same insert (same token), no roll-up
    sink.write(written[4], [])
    sink.write(written[4], [])
    sql.write(written[5], [])
    sink.write(written[5], [])
    assert _clickhouse_count(chdb_events) == count_rows(store, sa.table("request_events"))
    _three_looks(store, chdb_events, SINCE, SINCE + 3000)
    assert merge_guard(store, FEATURE, SINCE, chdb_events.guard())
    _three_looks(store, chdb_events, SINCE, SINCE + 3000)
    with store.reading() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(rollup_batches)
                           .where(~rollup_batches.c.applied)) == 0


def test_a_batch_clickhouse_refuses_leaves_no_reservation(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    """Refused for a row (poison: nothing written), the batch's reservation goes, so looks do
    not take the segment for one with a batch lost in between."""
    _open(store)
    bad = RequestEvent(id="bad", ts=SINCE + 10, feature=FEATURE, release_id=RELEASES["baseline"],
                       arm="baseline", unit_hash="u1",
                       latency_ms="slow")  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        chdb_events.sink(store).write([bad], [])
    assert count_rows(store, rollup_batches) == 0 and _clickhouse_count(chdb_events) == 0


def test_the_guard_merge_waits_for_a_batch_between_insert_and_rollup(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    """A batch already in ClickHouse, its roll-up not yet applied: merging the guard seconds
    now would read its guard requests there and, once the batch sees the segment merged, roll
    them up again. The merge waits for it (the next look merges), and the looks stay exact."""
    _open(store)
    rng = np.random.default_rng(23)
    sql, sink = SqlEventSink(store, rollup=False), chdb_events.sink(store)
    first, racing = _events(0, 520, SINCE, rng, RELEASES), _events(520, 20, SINCE, rng, RELEASES)
    for batch in (first, racing):
        sql.write(batch, [])
    sink.write(first, [])
    assert sink._reserve(store, batch_token(racing), racing)  # guard seconds, pending
    chdb_events.sink().write(racing, [])
    assert not merge_guard(store, FEATURE, SINCE, chdb_events.guard())
    assert not _segment(store, SINCE).merged
    sink.write(racing, [])  # the retry: rolled up now, its guard requests left to the look
    assert merge_guard(store, FEATURE, SINCE, chdb_events.guard())
    for start in range(540, 4000, 500):
        later = _events(start, min(500, 4000 - start), SINCE, rng, RELEASES)
        sql.write(later, [])
        sink.write(later, [])
    _three_looks(store, chdb_events, SINCE, SINCE + 3000)


def test_a_rollup_error_after_the_insert_is_not_taken_for_poison(
    store: Store, chdb_events: ClickHouseEvents, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rows are in ClickHouse when the roll-up fails for a reason other than the control
    database: raised, the writer would split the batch as poison and store each half again
    under a new token. The write returns, the rows are stored once, the reservation stays
    pending (the looks read ClickHouse once it is stale)."""
    from rampway.rollout.rollup import Rollup

    _open(store)
    rng = np.random.default_rng(27)
    sink = chdb_events.sink(store)

    def broken(*_: Any) -> None:
        raise ValueError("a value the roll-up cannot take")

    monkeypatch.setattr(Rollup, "apply", broken)
    batch = _events(0, 500, SINCE, rng, RELEASES)
    sink.write(batch, [])
    assert _clickhouse_count(chdb_events) == 500
    with store.reading() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(rollup_batches)
                           .where(~rollup_batches.c.applied)) == 1


def test_a_batch_pending_too_long_sends_looks_to_the_event_log(
    store: Store, chdb_events: ClickHouseEvents, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch whose process died between its ClickHouse insert and its roll-up: its
    reservation stays pending, and once it is `STALE_AFTER_S` old the roll-up no longer covers
    the segment — the controller's looks read ClickHouse (exact) instead."""
    import time

    _open(store)
    rng = np.random.default_rng(25)
    sink = chdb_events.sink(store)
    sink.write(_events(0, 1000, SINCE, rng, RELEASES), [])
    lost = _events(1000, 500, SINCE, rng, RELEASES)
    assert sink._reserve(store, batch_token(lost), lost)
    chdb_events.sink().write(lost, [])  # in ClickHouse, never rolled up
    sink.write(_events(1500, 500, SINCE, rng, RELEASES), [])  # the newest are rolled up
    window: dict[str, Any] = {"feature": FEATURE, "releases": RELEASES, "since": SINCE,
                              "until": SINCE + 3000, "guardrails": REQUEST_GUARDRAILS}
    assert load_look(store, events=chdb_events.guard(), **window) is not None  # in flight
    with store.transaction() as conn:  # as if reserved a while ago
        conn.execute(sa.update(rollup_batches).values(at=time.time() - STALE_AFTER_S - 1))
    # and no look waits for it (it will never be rolled up): were it waited for, 30 s
    monkeypatch.setattr("rampway.rollout.rollup.RETRY_S", 30.0)
    started = time.monotonic()
    assert load_look(store, events=chdb_events.guard(), **window) is None
    assert time.monotonic() - started < 15


def test_events_still_reach_clickhouse_while_the_control_database_is_down(
    tmp_path: Path, chdb_events: ClickHouseEvents, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control database refuses the reservation (locked past its busy timeout): the
    writer's retry of the batch goes to ClickHouse without the roll-up, and once the database
    answers again the segment is marked as missing a batch — the looks read ClickHouse."""
    import rampway.store._engine as engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "control.db"
    with Store.open(f"sqlite:///{path}") as store:
        _open(store)
        rng = np.random.default_rng(27)
        sink = chdb_events.sink(store)
        sink.write(_events(0, 1000, SINCE, rng, RELEASES), [])
        missed, after = (_events(1000, 500, SINCE, rng, RELEASES),
                         _events(1500, 500, SINCE, rng, RELEASES))
        window: dict[str, Any] = {"feature": FEATURE, "releases": RELEASES, "since": SINCE,
                                  "until": SINCE + 3000, "guardrails": REQUEST_GUARDRAILS}
        holder = sqlite3.connect(path, timeout=0.2)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreError):
                sink.write(missed, [])  # the writer retries a failed batch
            sink.write(missed, [])
        finally:
            holder.rollback()
            holder.close()
        assert _clickhouse_count(chdb_events) == 1500  # every event written once
        sink.write(after, [])  # the newest rolled up: only the mark tells the gap
        assert load_look(store, events=chdb_events.guard(), **window) is None
        assert chdb_events.load_look(**window).requests["baseline"] > 0


def test_without_a_rollout_the_sink_only_writes_clickhouse(
    store: Store, chdb_events: ClickHouseEvents,
) -> None:
    """No segment open: the batch goes to ClickHouse, and nothing is reserved or rolled up in
    the control database (one read there per batch)."""
    rng = np.random.default_rng(29)
    chdb_events.sink(store).write(_events(0, 500, SINCE, rng, RELEASES), [])
    assert _clickhouse_count(chdb_events) == 500
    assert count_rows(store, rollup_batches) == 0
    assert count_rows(store, sa.table("rollup_units")) == 0
