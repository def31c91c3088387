"""What the judge is fed, read from event rows on both databases: per-arm units for the
sample-ratio check (distinct units, a request without a unit counting as one, only the
rollout's arm/release pairs, from the settle time on)."""

from __future__ import annotations

from typing import Any

from rampway.events.model import hash_unit
from rampway.events.tables import request_events
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
        conn.execute(table.insert(), rows)


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
