"""Allocations: uniform, sticky while weights grow, independent across salts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rampway.assign import Allocation, assign, bucket
from rampway.errors import ConfigError


def test_one_million_ids_spread_uniformly_over_buckets() -> None:
    counts = np.zeros(10_000, dtype=np.int64)
    buckets = [bucket("uniformity-salt", f"user-{i}") for i in range(1_000_000)]
    np.add.at(counts, np.asarray(buckets), 1)
    result = stats.chisquare(counts)
    assert result.pvalue > 0.001, result
    assert counts.min() > 40 and counts.max() < 180


def test_growing_candidate_weight_keeps_every_candidate_unit() -> None:
    units = [f"u{i}" for i in range(20_000)]
    previous: set[str] = set()
    for weight in (100, 500, 2_500, 5_000, 10_000):
        alloc = Allocation.rollout("bot:r7", candidate="cand", baseline="base", weight_bp=weight)
        arms = {u: alloc.assign(u) for u in units}
        current = {u for u, arm in arms.items() if arm == "cand"}
        assert previous <= current, "a unit lost the candidate while its weight grew"
        assert all(arm in ("cand", "base") for arm in arms.values())
        assert abs(len(current) / len(units) - weight / 10_000) < 0.01
        previous = current


def test_growing_coverage_keeps_units_in_their_arm() -> None:
    units = [f"s{i}" for i in range(20_000)]
    seen: dict[str, str] = {}
    for coverage in (1_000, 2_000, 5_000, 10_000):
        alloc = Allocation("exp-1", [("a", 3_000), ("b", 3_000), ("c", 4_000)], coverage)
        arms = {u: alloc.assign(u) for u in units}
        for unit, arm in seen.items():
            assert arms[unit] == arm
        seen = {u: a for u, a in arms.items() if a is not None}
        assert abs(len(seen) / len(units) - coverage / 10_000) < 0.015


def test_remainder_past_the_weights_is_not_in_the_allocation() -> None:
    alloc = Allocation("exp-2", [("a", 1_000), ("b", 1_000)])
    assert alloc.ranges() == [("a", 0, 1_000), ("b", 1_000, 2_000)]
    assert alloc.arm_of_bucket(1_999) == "b"
    assert alloc.arm_of_bucket(2_000) is None
    outs = sum(assign(alloc, f"u{i}") is None for i in range(10_000))
    assert 7_700 < outs < 8_300


def test_arm_matches_bucket_ranges_exactly() -> None:
    alloc = Allocation("exp-3", [("a", 2_500), ("b", 2_500), ("c", 5_000)], coverage_bp=5_000)
    assert alloc.ranges() == [("a", 0, 1_250), ("b", 2_500, 3_750), ("c", 5_000, 7_500)]
    for i in range(2_000):
        unit = f"id-{i}"
        n = bucket("exp-3", unit)
        expected = next((arm for arm, lo, hi in alloc.ranges() if lo <= n < hi), None)
        assert alloc.assign(unit) == expected


def test_buckets_under_different_salts_are_independent() -> None:
    units = [f"user-{i}" for i in range(100_000)]
    a = np.array([bucket("feature-a", u) for u in units]) // 1_000
    b = np.array([bucket("feature-b", u) for u in units]) // 1_000
    table = np.zeros((10, 10), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    assert stats.chi2_contingency(table).pvalue > 0.001
    # The 10% in one experiment are an ordinary 10% sample for the other.
    in_a = a == 0
    assert abs((b[in_a] == 0).mean() - 0.1) < 0.01


@pytest.mark.parametrize(
    ("salt", "arms", "coverage", "message"),
    [
        ("", [("a", 1)], 10_000, "salt"),
        ("s", [("a", 6_000), ("b", 5_000)], 10_000, "sum to 11000"),
        ("s", [("a", -1)], 10_000, "weight"),
        ("s", [("a", 1.5)], 10_000, "weight"),
        ("s", [("a", True)], 10_000, "weight"),
        ("s", [("a", 1), ("a", 2)], 10_000, "unique"),
        ("s", [("", 1)], 10_000, "non-empty"),
        ("s", [("a", 1)], 10_001, "coverage"),
    ],
)
def test_invalid_allocations_are_refused(
    salt: str, arms: list[tuple[str, object]], coverage: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Allocation(salt, arms, coverage)  # type: ignore[arg-type]


def test_zero_weight_arm_owns_no_bucket() -> None:
    alloc = Allocation("s", [("off", 0), ("on", 10_000)])
    assert alloc.ranges() == [("on", 0, 10_000)]
    assert {alloc.assign(f"u{i}") for i in range(500)} == {"on"}


GROWTHBOOK_LAYOUTS = [
    ([5_000, 5_000], 3),
    ([2_500, 2_500, 5_000], 5_000),
    ([3_333, 3_333, 3_334], 4_999),
    ([1, 9_999], 7_777),
    ([137, 4_863, 5_000], 9_001),
    ([1_000, 2_000, 7_000], 3_333),
    ([9_000, 1_000], 10_000),
    ([1_000, 2_000, 7_000], 10_000),  # 0.1 + 0.2 > 0.3 in floats: bucket 3000 is v1's
]


@pytest.mark.parametrize(("weights", "coverage"), GROWTHBOOK_LAYOUTS)
def test_coverage_slots_put_every_bucket_where_growthbook_does(
    weights: list[int], coverage: int
) -> None:
    """Same arm as growthbook's getBucketRanges + chooseVariation for all 10,000 buckets."""
    from growthbook.core import chooseVariation, getBucketRanges

    alloc = Allocation("gb", [(f"v{i}", w) for i, w in enumerate(weights)], coverage)
    ranges = getBucketRanges(len(weights), coverage / 10_000, [w / 10_000 for w in weights])
    ours = [alloc.arm_of_bucket(n) for n in range(10_000)]
    theirs = [chooseVariation(n / 10_000, ranges) for n in range(10_000)]
    names = [None if i < 0 else f"v{i}" for i in theirs]
    differ = [n for n in range(10_000) if ours[n] != names[n]]
    assert differ == []
