"""What the judge is fed, read from event rows on both databases: per-arm units for the
sample-ratio check (distinct units, a request without a unit counting as one, only the
rollout's arm/release pairs, from the settle time on) and feedback per arm, tied to a request
of the window or to a unit served in one arm of it."""

from __future__ import annotations

from typing import Any

from rampway.events.model import hash_unit
from rampway.events.tables import feedback_events, request_events
from rampway.events.values import with_shape_ids
from rampway.rollout.extract import load_samples
from rampway.store import Store

FEATURE = "support-bot"
BASE, CAND = "support-bot@base0001", "support-bot@cand0002"
RELEASES = {"baseline": BASE, "candidate": CAND}
T = 1_767_225_600.0


def request(n: int, arm: str, unit: str | None, ts: float = T + 100, *,
            release: str | None = None, feature: str = FEATURE) -> dict[str, Any]:
    return {
        "id": f"req_{n}", "ts": ts, "feature": feature,
        "release_id": release or RELEASES.get(arm, BASE), "arm": arm,
        "unit_hash": hash_unit(unit), "attributes": None, "source": "gateway",
        "protocol": "openai", "stream": False, "provider": "sim", "model": "sim-large",
        "attempts": 1, "fallback_used": False, "status": "ok", "http_status": 200,
        "error_code": None, "latency_ms": 100.0, "ttft_ms": None, "input_tokens": 1,
        "output_tokens": 1, "cached_tokens": 0, "cost_usd": 0.0, "refusal": False,
        "finish_reason": "stop", "output_chars": 1, "prompt_text": None, "response_text": None,
    }


def insert(store: Store, table: Any, rows: list[dict[str, Any]]) -> None:
    with store.transaction() as conn:
        conn.execute(table.insert(),
                     with_shape_ids(conn, rows) if table is request_events else rows)


def test_units_per_arm_count_each_unit_once_and_each_unitless_request(store: Store) -> None:
    rows = [
        request(1, "baseline", "ana"), request(2, "baseline", "ana"),  # one unit, twice
        request(3, "baseline", "bob"), request(4, "baseline", None),  # + one without a unit
        request(5, "baseline", None),
        request(6, "candidate", "cy"), request(7, "candidate", "cy"), request(8, "candidate", None),
        request(9, "baseline", "dee", release="support-bot@other"),  # another baseline release
        request(10, "production", "eve"),  # not in the rollout
        request(11, "candidate", "fay", feature="echo"),  # another feature
        request(12, "candidate", "gus", ts=T + 5),  # before the weight settled everywhere
        request(13, "baseline", "hal", ts=T + 700),  # after the look
    ]
    insert(store, request_events, rows)
    samples = load_samples(store, feature=FEATURE, releases=RELEASES, since=T, until=T + 600,
                           settle=10)
    assert (samples["baseline"].units, samples["candidate"].units) == (4, 2)
    assert (samples["baseline"].requests, samples["candidate"].requests) == (5, 4)
    everything = load_samples(store, feature=FEATURE, releases=RELEASES, since=T,
                              until=T + 600)
    assert everything["candidate"].units == 3  # without a settle time gus counts too
    empty = load_samples(store, feature=FEATURE, releases=RELEASES, since=T + 800,
                         until=T + 900)
    assert (empty["baseline"].units, empty["candidate"].units) == (0, 0)


def feedback(n: int, value: float, ts: float, *, request: str | None = None,
             unit: str | None = None, name: str = "thumbs_up",
             feature: str | None = FEATURE) -> dict[str, Any]:
    return {"id": f"fb_{n}", "ts": ts, "name": name, "value": value, "request_id": request,
            "unit_hash": hash_unit(unit), "feature": feature, "attributes": None}


def test_feedback_joins_the_arm_of_its_request_or_of_its_unit(store: Store) -> None:
    insert(store, request_events, [
        request(1, "baseline", "ana", T + 100), request(2, "candidate", "cy", T + 100),
        request(3, "baseline", "both", T + 100), request(4, "candidate", "both", T + 200),
        request(5, "baseline", "late", T + 300), request(6, "candidate", "old", T - 100),
        request(7, "candidate", None, T + 100),
        request(8, "baseline", "dee", T + 100, release="support-bot@other"),
    ])
    insert(store, feedback_events, [
        feedback(1, 1.0, T + 110, request="req_1"),  # request-level → baseline
        feedback(2, 0.0, T + 120, request="req_2", unit="cy"),  # counted once, by its request
        feedback(3, 0.5, T + 150, unit="ana"),  # unit-level → baseline
        feedback(4, 0.25, T + 150, unit="cy", feature=None),  # no feature named → candidate
        feedback(5, 9.0, T + 250, unit="both"),  # seen in both arms: left out
        feedback(6, 9.0, T + 200, unit="late"),  # before the unit's first request: left out
        feedback(7, 9.0, T + 150, unit="ana", feature="echo"),  # another feature's outcome
        feedback(8, 9.0, T + 700, unit="ana"),  # after the window
        feedback(9, 9.0, T + 150, unit="old"),  # not served in the window
        feedback(10, 9.0, T + 150, unit="dee"),  # served by another baseline release
        feedback(11, 9.0, T + 150, request="req_missing"),
        feedback(12, 1.0, T + 900, request="req_1"),  # late, but about a request of the window
        feedback(15, 9.0, T - 10, request="req_1"),  # before the window began: not read
        feedback(13, 49.9, T + 160, unit="cy", name="conversion"),
        feedback(14, 9.0, T + 160, unit="ana", name="not_asked_for"),
    ])
    samples = load_samples(store, feature=FEATURE, releases=RELEASES, since=T, until=T + 600,
                           feedback=["feedback:thumbs_up", "feedback:conversion"])
    base, cand = samples["baseline"], samples["candidate"]
    assert base.values("feedback:thumbs_up").tolist() == [1.0, 0.5, 1.0]
    assert cand.values("feedback:thumbs_up").tolist() == [0.0, 0.25]
    assert cand.values("feedback:conversion").tolist() == [49.9]
    assert base.values("feedback:conversion").tolist() == []
    assert "feedback:not_asked_for" not in base.series
