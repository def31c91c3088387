"""Serving assignment: sticky per unit, the split and coverage as defined, control for no unit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from experiment_helpers import FEATURE, T0, start

from rampway.experiments import ActiveExperiments, Arm, ExperimentRecord, repo
from rampway.store import Store


def record(weights: list[int], coverage_bp: int = 10_000, salt: str = "experiment:bot:1",
           status: str = "running") -> ExperimentRecord:
    arms = tuple(Arm(name, f"bot@{i:08x}", w)
                 for i, (name, w) in enumerate(zip("abcdef", weights, strict=False)))
    return ExperimentRecord(
        id=1, name="x", feature="bot", status=status,  # type: ignore[arg-type]
        arms=arms, coverage_bp=coverage_bp, salt=salt, unit="user", primary="error_rate",
        secondary=(), guardrails=(), alpha=0.05, min_runtime_s=0.0, started_at=T0,
        stopped_at=None, definition={},
    )


def counts(active: ActiveExperiments, n: int = 10_000) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for i in range(n):
        chosen = active.choose("bot", f"user-{i}")
        key = None if chosen is None else chosen[0]
        out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.parametrize("weights", [[5000, 5000], [2000, 3000, 5000], [1667] * 5 + [1665]])
def test_split_matches_the_weights_over_10k_units(weights: list[int]) -> None:
    active = ActiveExperiments.of([record(weights)])
    seen = counts(active)
    assert None not in seen  # full coverage: every unit is in an arm
    for arm, w in zip("abcdef", weights, strict=False):
        expected = 10_000 * w / 10_000
        assert abs(seen[arm] - expected) < 4 * (expected * (1 - w / 10_000)) ** 0.5 + 1, seen


def test_coverage_leaves_the_rest_out_and_growing_it_keeps_units_in_place() -> None:
    small = ActiveExperiments.of([record([5000, 5000], coverage_bp=2000)])
    seen = counts(small)
    assert abs(seen[None] - 8000) < 200 and abs(seen["a"] - 1000) < 150
    large = ActiveExperiments.of([record([5000, 5000], coverage_bp=8000)])
    for i in range(3000):
        before = small.choose("bot", f"user-{i}")
        if before is not None:
            assert large.choose("bot", f"user-{i}") == before


def test_assignment_is_sticky_and_returns_the_arms_release() -> None:
    first = ActiveExperiments.of([record([3000, 7000])])
    again = ActiveExperiments.of([record([3000, 7000])])  # a reload in another process
    for i in range(500):
        chosen = first.choose("bot", f"u{i}")
        assert chosen is not None and chosen == again.choose("bot", f"u{i}")
        assert chosen[1] == {"a": "bot@00000000", "b": "bot@00000001"}[chosen[0]]
    other_salt = ActiveExperiments.of([record([3000, 7000], salt="experiment:bot:2")])
    moved = sum(first.choose("bot", f"u{i}") != other_salt.choose("bot", f"u{i}")
                for i in range(500))
    assert 150 < moved < 300  # a new experiment draws an independent split (~42% move)


def test_frozen_assignment_vectors() -> None:
    """A refactor must not reshuffle running experiments' units (GrowthBook v2 hash)."""
    active = ActiveExperiments.of([record([5000, 3000, 2000], salt="experiment:support-bot:1")])
    got = [active.choose("bot", unit) for unit in ("user-1", "user-2", "user-3", "abc", "42")]
    # buckets 1144, 8044, 8109, 3048, 2006 under this salt; a = [0, 5000), c = [8000, 10000)
    assert [None if g is None else g[0] for g in got] == ["a", "c", "c", "a", "a"]


def test_no_unit_no_experiment_and_stopped_records() -> None:
    active = ActiveExperiments.of([record([5000, 5000])])
    assert active.choose("bot", None) is None and active.choose("bot", "") is None
    assert active.control("bot") == "bot@00000000"
    assert active.choose("other", "user-1") is None and active.control("other") is None
    assert active.release_ids() == {"bot": {"bot@00000000", "bot@00000001"}}
    assert ActiveExperiments.of([record([5000, 5000], status="stopped")]).by_feature == {}
    assert ActiveExperiments.empty().choose("bot", "user-1") is None


def test_load_reads_the_running_experiments(store: Store) -> None:
    running = start(store)
    active = ActiveExperiments.load(store)
    allocation = active.get(FEATURE)
    assert allocation is not None and allocation.name == "tone"
    assert allocation.allocation.salt == running.salt
    chosen = active.choose(FEATURE, "user-7")
    assert chosen is not None and chosen[1] == running.arm(chosen[0]).release_id
    repo.stop(store, running, actor="ana", reason="done", now=T0)
    assert ActiveExperiments.load(store).get(FEATURE) is None


def test_record_helpers() -> None:
    r = record([5000, 5000])
    with pytest.raises(KeyError):
        r.arm("z")
    assert replace(r, guardrails=()).metrics == ("error_rate",)
