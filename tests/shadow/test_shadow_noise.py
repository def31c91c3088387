"""The noise floor: equivalent-but-nondeterministic candidates come out clean, real
differences are flagged, and correlated traffic (many requests per unit) is not mistaken for
evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampway.shadow.noise import Margins, noise_floor

Classes = list[frozenset[str]]


def traffic(rng: np.random.Generator, units: int, per_unit: int,
            rates: dict[str, tuple[float, float]]) -> tuple[Classes, list[str]]:
    """Pairs from `units` users sending `per_unit` requests each. Each class has a Beta
    distributed per-unit rate (mean, concentration): some users' requests are ambiguous and
    differ often, others rarely — the correlation real traffic has."""
    out: Classes = []
    labels: list[str] = []
    for u in range(units):
        own = {name: rng.beta(mean * conc, (1 - mean) * conc)
               for name, (mean, conc) in rates.items()}
        for _ in range(per_unit):
            out.append(frozenset(name for name, p in own.items() if rng.random() < p))
            labels.append(f"u{u}")
    return out, labels


# How a nondeterministic LLM differs from itself: wording almost always, a field sometimes.
NOISE = {
    "text:different": (0.9, 5.0),
    "text:dissimilar": (0.15, 2.0),
    "json_field:intent": (0.08, 1.0),
    "tool_call:argument:order_id": (0.2, 3.0),
    "verbosity:longer_2x": (0.05, 2.0),
    "verbosity:shorter_0.5x": (0.05, 2.0),
    "failure:invalid_json": (0.02, 2.0),
    "refusal:added": (0.005, 2.0),
}


@pytest.mark.parametrize("seed", range(5))
def test_an_equivalent_nondeterministic_candidate_is_clean(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cand, cu = traffic(rng, 150, 6, NOISE)
    twin, tu = traffic(rng, 60, 6, NOISE)
    floor = noise_floor(cand, cu, twin, tu)
    assert floor.source == "twin"
    assert floor.flagged == (), [c.reason for c in floor.flagged]
    assert {c.name for c in floor.classes} >= {"text:different", "json_field:intent"}


def test_a_truly_different_candidate_is_flagged_on_what_differs() -> None:
    rng = np.random.default_rng(7)
    different = {**NOISE, "verbosity:longer_2x": (0.35, 2.0), "failure:invalid_json": (0.12, 2.0)}
    cand, cu = traffic(rng, 150, 6, different)
    twin, tu = traffic(rng, 60, 6, NOISE)
    floor = noise_floor(cand, cu, twin, tu)
    assert {c.name for c in floor.flagged} == {"verbosity:longer_2x", "failure:invalid_json"}
    verbose = floor.flagged[0]
    assert verbose.name == "verbosity:longer_2x"  # the largest difference first
    assert verbose.difference.lower > 0 and verbose.candidate_rate > verbose.floor_rate
    assert "the floor" in verbose.reason


def test_one_unit_repeating_itself_is_not_evidence() -> None:
    """60 requests of one user all differ; 300 other users never do. Counted as independent
    pairs that is a clear 17% difference; over units it is one unlucky user."""
    cand = [frozenset({"json_field:intent"})] * 60 + [frozenset()] * 300
    cu = ["heavy"] * 60 + [f"u{i}" for i in range(300)]
    twin: Classes = [frozenset()] * 150
    tu = [f"t{i}" for i in range(150)]
    clustered = noise_floor(cand, cu, twin, tu)
    assert clustered.flagged == ()
    as_if_independent = noise_floor(cand, [f"r{i}" for i in range(360)], twin, tu)
    assert [c.name for c in as_if_independent.flagged] == ["json_field:intent"]


def test_relative_margin_keeps_a_small_rise_on_a_noisy_class_clean() -> None:
    cand = [frozenset({"text:dissimilar"})] * 4600 + [frozenset()] * 5400
    twin = [frozenset({"text:dissimilar"})] * 4000 + [frozenset()] * 6000
    floor = noise_floor(cand, range(10_000), twin, range(10_000, 20_000))
    row = floor.classes[0]
    assert row.difference.lower > 0 and not row.flagged
    assert "relative margin" in row.reason
    loose = noise_floor(cand, range(10_000), twin, range(10_000, 20_000), Margins(relative=0.1))
    assert loose.classes[0].flagged


def test_absolute_margin_keeps_a_rare_class_clean() -> None:
    cand = [frozenset({"refusal:added"})] * 100 + [frozenset()] * 9900
    twin = [frozenset({"refusal:added"})] * 10 + [frozenset()] * 9990
    row = noise_floor(cand, range(10_000), twin, range(10_000, 20_000)).classes[0]
    assert row.difference.lower > 0 and not row.flagged
    assert "absolute margin" in row.reason


def test_without_twins_the_fixed_floor_is_used_and_labelled() -> None:
    cand = ([frozenset({"text:different", "verbosity:longer_2x"})] * 40
            + [frozenset({"text:different"})] * 60 + [frozenset()] * 2)
    floor = noise_floor(cand, [f"u{i // 2}" for i in range(102)], margins=Margins(fixed_floor=0.1))
    assert floor.source == "fixed" and "no twin pairs" in floor.note and "10%" in floor.note
    assert {c.name for c in floor.flagged} == {"text:different", "verbosity:longer_2x"}
    assert all(c.floor_count is None and c.floor_rate == 0.1 for c in floor.classes)


def test_familywise_level_is_bonferroni_over_the_candidate_classes() -> None:
    cand = [frozenset({"a", "b", "c", "d"})] * 5 + [frozenset()] * 5
    twin = [frozenset({"zz"})] * 10
    floor = noise_floor(cand, range(10), twin, range(10, 20))
    assert floor.level == pytest.approx(1 - 0.05 / 4)
    assert "Bonferroni over 4 classes" in floor.note
    only_twin = next(c for c in floor.classes if c.name == "zz")
    assert not only_twin.flagged and only_twin.candidate_count == 0 and "noise" in only_twin.reason
    assert noise_floor(cand, range(10), twin, range(10, 20),
                       Margins(familywise=False)).level == 0.95


def test_too_few_units_is_never_flagged() -> None:
    cand = [frozenset({"text:dissimilar"})] * 50
    floor = noise_floor(cand, ["one"] * 50, [frozenset()] * 50, ["other"] * 50)
    row = floor.classes[0]
    assert not row.flagged and not row.difference.informative and "too few" in row.reason


def test_empty_input_and_bad_arguments() -> None:
    floor = noise_floor([], [])
    assert floor.classes == () and floor.candidate_pairs == 0 and floor.source == "fixed"
    with pytest.raises(ValueError, match="one unit"):
        noise_floor([frozenset()], [])
    with pytest.raises(ValueError, match="margins"):
        Margins(level=1.5)
    assert math.isclose(Margins().to_json()["absolute"], 0.02)
