"""Per-unit aggregates from real event rows, on SQLite and PostgreSQL, against a hand count."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.experiments import bracket, extract
from rampway.experiments.extract import load_units
from rampway.experiments.model import Arm
from rampway.stats._units import clustered_quantile
from rampway.store import Store

T0 = 1_700_000_000.0
DAY = 86_400.0
FEATURE = "support-bot"
ARMS = (Arm("control", "support-bot@c", 5000), Arm("friendly", "support-bot@t", 5000))
RELEASE = {"control": "support-bot@c", "friendly": "support-bot@t"}


def request(rid: str, unit: str | None, arm: str, t: float, **over: Any) -> dict[str, Any]:
    row = {
        "id": rid, "ts": T0 + t, "feature": FEATURE, "release_id": RELEASE.get(arm, "x@1"),
        "arm": arm, "unit_hash": unit, "source": "gateway",
        "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
        "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
        "error_code": None, "latency_ms": 100.0, "ttft_ms": None, "input_tokens": 5,
        "output_tokens": 10, "cached_tokens": 0, "cost_usd": 0.01, "refusal": False,
        "finish_reason": "stop", "output_chars": 40, "prompt_text": None, "response_text": None,
    }
    row.update(over)
    return row


def feedback(fid: str, name: str, value: float, t: float, *, unit: str | None = None,
             request_id: str | None = None, feature: str | None = None) -> dict[str, Any]:
    return {"id": fid, "ts": T0 + t, "name": name, "value": value, "request_id": request_id,
            "unit_hash": unit, "feature": feature, "attributes": None}


def error(**over: Any) -> dict[str, Any]:
    return {"status": "error", "http_status": 502, "output_tokens": 0, **over}


REQUESTS = [
    # u1, control: ok, error, refusal two days later
    request("r1", "u1", "control", 10, latency_ms=100.0, cost_usd=0.01, output_tokens=10),
    request("r2", "u1", "control", 20, latency_ms=50.0, cost_usd=0.02, **error()),
    request("r3", "u1", "control", 2 * DAY + 5, latency_ms=300.0, output_tokens=30,
            refusal=True),
    # u2, control: one request in the window, one before and one after it
    request("r4", "u2", "control", 100, latency_ms=200.0, cost_usd=0.005, output_tokens=20),
    request("r5", "u2", "control", -10),
    request("r6", "u2", "control", 11 * DAY),
    # u3, friendly: two ok requests three days apart
    request("r7", "u3", "friendly", 50, latency_ms=120.0),
    request("r8", "u3", "friendly", 3 * DAY, latency_ms=80.0, output_tokens=14),
    # u4 seen in both arms: a multiple exposure
    request("r9", "u4", "friendly", 60),
    request("r10", "u4", "control", 70),
    request("r10b", "u4", "control", 80),
    # u5: a row labelled friendly but served by another release is not this experiment's
    request("r11", "u5", "friendly", 40, release_id="support-bot@other"),
    request("r12", "u5", "friendly", 300, latency_ms=90.0),
    # not this experiment: another feature, no unit, an arm that isn't one of ours
    request("r13", "u1", "control", 30, feature="other-bot"),
    request("r14", None, "control", 30),
    request("r15", "u6", "production", 30),
]

FEEDBACK = [
    feedback("f1", "thumbs", 1.0, 15, request_id="r1"),  # u1 via its request
    feedback("f2", "thumbs", 0.0, 30, unit="u1"),
    feedback("f3", "thumbs", 1.0, 50, unit="u2"),  # before u2's exposure (t=100)
    feedback("f4", "signup", 1.0, DAY, unit="u3"),
    feedback("f5", "signup", 1.0, DAY, unit="u2", feature="other-bot"),  # other feature
    feedback("f6", "thumbs", -1.0, 60, unit="u3", feature=FEATURE),
    feedback("f7", "thumbs", 1.0, 90, unit="u4"),  # multiple exposure
    feedback("f8", "signup", 1.0, 12 * DAY, unit="u5"),  # after the window
    feedback("f9", "signup", 0.0, 400, unit="u5"),  # value 0: not a conversion
]


def write(store: Store, requests: list[dict[str, Any]], fb: list[dict[str, Any]]) -> None:
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, requests))
        if fb:
            conn.execute(feedback_events.insert(), fb)


def load(store: Store, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"feature": FEATURE, "arms": ARMS, "since": T0, "until": T0 + 10 * DAY}
    args.update(kwargs)
    return load_units(store, **args)


def by_unit(columns: dict[str, np.ndarray], first_ts: float) -> dict[str, float]:
    """The row of the unit exposed at `first_ts`."""
    (i,) = np.flatnonzero(columns["first_ts"] == first_ts)
    return {name: float(values[i]) for name, values in columns.items()}


@pytest.mark.parametrize("chunk", [extract.CHUNK, 1, 2])
def test_per_unit_aggregates_match_a_hand_count(
    store: Store, chunk: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also read one and two units at a time (the rows come in chunks: on PostgreSQL, binary
    COPY records split across them)."""
    monkeypatch.setattr(extract, "CHUNK", chunk)
    write(store, REQUESTS, FEEDBACK)
    got = load(store, feedback=["thumbs", "signup"], latency=True)
    assert (got.multiple_exposures, got.multiple_exposure_requests) == (1, 3)
    control, friendly = got.arm("control"), got.arm("friendly")
    assert (control.units, friendly.units) == (2, 2)
    assert (control.requests, friendly.requests) == (4, 3)
    u1 = by_unit(dict(control.columns), T0 + 10)
    assert u1 == {
        "first_ts": T0 + 10, "last_ts": T0 + 2 * DAY + 5, "requests": 3, "errors": 1,
        "refusals": 1, "ok_requests": 2, "latency_ms_sum": 400.0,
        "cost_usd_sum": pytest.approx(0.04), "output_tokens_sum": 40,
        "feedback_count:thumbs": 2, "feedback_sum:thumbs": 1.0, "converted:thumbs": 1,
        "feedback_count:signup": 0, "feedback_sum:signup": 0.0, "converted:signup": 0,
    }
    u2 = by_unit(dict(control.columns), T0 + 100)
    assert (u2["requests"], u2["last_ts"], u2["feedback_count:thumbs"]) == (1, T0 + 100, 0)
    assert u2["converted:signup"] == 0
    u3 = by_unit(dict(friendly.columns), T0 + 50)
    assert (u3["requests"], u3["ok_requests"], u3["last_ts"]) == (2, 2, T0 + 3 * DAY)
    assert (u3["feedback_count:thumbs"], u3["feedback_sum:thumbs"]) == (1, -1.0)
    assert (u3["converted:thumbs"], u3["converted:signup"]) == (0, 1)
    u5 = by_unit(dict(friendly.columns), T0 + 300)
    assert (u5["requests"], u5["converted:signup"], u5["feedback_count:signup"]) == (1, 0, 1)


def test_latencies_are_successful_requests_labelled_by_unit(store: Store) -> None:
    write(store, REQUESTS, FEEDBACK)
    got = load(store, latency=True)
    control, friendly = got.arm("control"), got.arm("friendly")
    assert sorted(zip(control.latency_units.tolist(), control.latency.tolist(), strict=True)) \
        == [("u1", 100.0), ("u1", 300.0), ("u2", 200.0)]
    assert sorted(zip(friendly.latency_units.tolist(), friendly.latency.tolist(), strict=True)) \
        == [("u3", 80.0), ("u3", 120.0), ("u5", 90.0)]


def test_without_feedback_or_latency_only_request_columns(store: Store) -> None:
    write(store, REQUESTS, FEEDBACK)
    got = load(store)
    control = got.arm("control")
    assert "feedback_count:thumbs" not in control.columns
    assert control.column("converted:signup").tolist() == [0.0, 0.0]  # never read: zeros
    assert control.latency.size == 0


def test_an_empty_window_has_empty_arms(store: Store) -> None:
    write(store, REQUESTS, FEEDBACK)
    got = load(store, since=T0 + 20 * DAY, until=T0 + 30 * DAY, feedback=["thumbs"],
               latency=True)
    assert [a.units for a in got.arms] == [0, 0]
    assert got.arms[0].column("feedback_sum:thumbs").shape == (0,)
    assert got.multiple_exposures == 0


def test_the_window_bounds_are_inclusive(store: Store) -> None:
    write(store, REQUESTS, FEEDBACK)
    got = load(store, since=T0 + 10, until=T0 + 100)
    assert sorted(got.arm("control").column("first_ts").tolist()) == [T0 + 10, T0 + 100]


def test_more_units_than_a_chunk_arrive_whole(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract, "CHUNK", 50)
    n = 50 * 4 + 7
    rows = [request(f"b{i}", f"unit{i}", "control" if i % 3 else "friendly", i % 1000,
                    latency_ms=float(i % 13), refusal=i % 5 == 0) for i in range(n)]
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))
        count = conn.execute(sa.select(sa.func.count()).select_from(request_events)).scalar()
    assert count == n
    got = load(store, latency=True)
    control, friendly = got.arm("control"), got.arm("friendly")
    assert control.units + friendly.units == n
    assert control.latency.size + friendly.latency.size == n
    assert friendly.units == len(range(0, n, 3))
    assert control.column("refusals").sum() + friendly.column("refusals").sum() == len(
        range(0, n, 5))


@pytest.mark.parametrize(("margin", "per_e", "sample"),
                         [(None, 64, None), (0.05, 64, None), (0.0, 10**7, None),
                          (None, 64, 500)])
def test_the_databases_p95_and_its_standard_error_equal_the_per_request_path(
    store: Store, margin: float | None, per_e: int, sample: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Quantile and Woodruff standard error computed by the database (no per-request read)
    against `clustered_quantile` over the per-request latencies: the same numbers. On
    PostgreSQL the order statistics come from a bracket of ranks (`rampway.experiments.
    bracket`): by default it holds every rank here; 5% of n leaves Woodruff's q ± z·se
    outside (read by the database), none with buckets of single values leaves the quantile
    itself outside (the multiple exposure's request shifts the ranks: the generic path). A
    histogram of a page sample (a large table's) places the brackets just as well."""
    if sample is not None:
        monkeypatch.setattr(bracket, "SAMPLE", sample)
        monkeypatch.setattr(bracket, "SAMPLE_MIN", 10)
        monkeypatch.setattr(bracket, "MARGIN", 0.2)
        monkeypatch.setattr(bracket, "MIN_MARGIN", 0)
    if margin is not None:
        monkeypatch.setattr(bracket, "MARGIN", margin)
        monkeypatch.setattr(bracket, "MIN_MARGIN", 0)
        monkeypatch.setattr(bracket, "PER_E", per_e)
    rng = np.random.default_rng(8)
    rows, n = [], 0
    for u in range(300):
        arm = "control" if u % 2 else "friendly"
        offset = rng.normal(0, 0.3)
        for _ in range(1 + int(rng.poisson(9))):
            n += 1
            failed = rng.random() < 0.05
            latency = float(np.round(800 * np.exp(offset + 0.5 * rng.standard_normal()), 3))
            rows.append(request(f"q{n}", f"user{u}", arm, float(rng.uniform(0, DAY)),
                                latency_ms=latency, **(error() if failed else {})))
    rows.append(request("both1", "user1", "friendly", 5.0))  # a multiple exposure: left out
    with store.transaction() as conn:
        conn.execute(request_events.insert(), with_shape_ids(conn, rows))
    if store.engine.dialect.name == "postgresql":
        with store.transaction() as conn:  # the table's size, which the sample is taken by
            conn.exec_driver_sql("ANALYZE request_events")
    got = load(store, latency=True, quantiles=(0.5, 0.95))
    for arm in got.arms:
        assert arm.latency.size > 1000
        for q in (0.5, 0.95):
            quantile, se, units = arm.quantiles[q]
            want = clustered_quantile(arm.latency, arm.latency_units, q)
            assert quantile == pytest.approx(want[0], rel=1e-12)
            assert se == pytest.approx(want[1], rel=1e-9) and se > 0
            assert units == want[2] == len(set(arm.latency_units.tolist()))
    assert got.multiple_exposures == 1


def test_quantiles_of_an_empty_window_are_unknown(store: Store) -> None:
    write(store, REQUESTS, FEEDBACK)
    got = load(store, since=T0 + 20 * DAY, until=T0 + 30 * DAY, quantiles=(0.95,))
    quantile, se, units = got.arm("control").quantiles[0.95]
    assert np.isnan(quantile) and se == np.inf and units == 0
