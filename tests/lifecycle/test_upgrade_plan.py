"""The upgrade plan (pure): successor choice, fallbacks, params, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from rampway.errors import ConfigError
from rampway.lifecycle import plan_upgrade
from rampway.providers.catalog import Catalog
from rampway.release import Release, load_release

TODAY = dt.date(2027, 1, 10)
HORIZON = TODAY + dt.timedelta(days=90)
KINDS = {"sim": "sim"}


def release(tmp_path: Path, **changes: Any) -> Release:
    spec: dict[str, Any] = {"provider": "sim", "model": "sim-large", "fallbacks": ["sim-small"],
                            "params": {"temperature": 0.3, "top_p": 0.9, "max_tokens": 600},
                            "messages": {"system": "s.md"}, **changes}
    (tmp_path / "release.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "s.md").write_text("Be brief.")
    return load_release(tmp_path, feature="bot")


def plan(rel: Release, catalog: Catalog | None = None, to: str | None = None) -> Any:
    return plan_upgrade(rel, catalog or Catalog.bundled(), KINDS, today=TODAY, horizon=HORIZON,
                        to=to)


def test_successor_swaps_only_the_model_and_says_why(tmp_path: Path) -> None:
    base = release(tmp_path)
    p = plan(base)
    assert p.description == "sim-large → sim-large-2, reason: deprecation 2027-02-01"
    assert p.candidate.models == [("sim", "sim-large-2"), ("sim", "sim-small")]
    assert p.candidate.files == base.files and p.candidate.spec.params == base.spec.params
    assert p.params == () and p.candidate.id != base.id


def test_unsupported_params_are_dropped_and_reported(tmp_path: Path) -> None:
    catalog = Catalog.load([{"provider": "sim", "model": "sim-large-2",
                             "unsupported_params": ["top_p"], "max_output": 500}])
    p = plan(release(tmp_path), catalog)
    assert [(c.name, c.before, c.after) for c in p.params] == [("top_p", 0.9, None),
                                                                ("max_tokens", 600, 500)]
    assert p.candidate.spec.params.top_p is None and p.candidate.spec.params.max_tokens == 500
    assert "params.top_p=0.9 dropped: sim-large-2 does not support it" in p.description


def test_deprecated_fallback_moves_to_its_successor_or_is_dropped_as_a_repeat(
    tmp_path: Path,
) -> None:
    catalog = Catalog.load([{"provider": "sim", "model": "sim-small",
                             "deprecation_date": "2027-03-01", "successor": "sim-large-2"}])
    p = plan(release(tmp_path), catalog)
    assert p.candidate.models == [("sim", "sim-large-2")]
    assert [(s.role, s.after) for s in p.swaps] == [("primary", "sim/sim-large-2"),
                                                    ("fallbacks[0]", None)]


def test_only_a_fallback_going_away_keeps_the_primary(tmp_path: Path) -> None:
    catalog = Catalog.load([
        {"provider": "sim", "model": "sim-small", "retirement_date": "2027-02-15",
         "successor": "sim-tiny-2"},
        {"provider": "sim", "model": "sim-tiny-2", "input_per_mtok": 0.1, "output_per_mtok": 0.2,
         "context_window": 8000},
    ])
    p = plan(release(tmp_path, model="sim-large-2"), catalog)
    assert p.candidate.models == [("sim", "sim-large-2"), ("sim", "sim-tiny-2")]
    assert p.reason == "retirement 2027-02-15"


def test_successor_chain_is_followed_past_a_successor_that_also_goes_away(
    tmp_path: Path,
) -> None:
    catalog = Catalog.load([
        {"provider": "sim", "model": "sim-large-2", "deprecation_date": "2027-03-01",
         "successor": "sim-large-3"},
        {"provider": "sim", "model": "sim-large-3", "input_per_mtok": 1, "output_per_mtok": 2,
         "context_window": 8000},
    ])
    assert plan(release(tmp_path), catalog).candidate.spec.model == "sim-large-3"


@pytest.mark.parametrize(
    ("catalog", "to", "message"),
    [
        ([], "sim-huge", "unknown model sim/sim-huge: not in the model catalog"),
        ([], "sim-large", "bot already uses sim/sim-large"),
        ([], "other/sim-x", "provider 'other' (for sim-x) is not configured"),
        ([{"provider": "sim", "model": "sim-large", "successor": "sim-nope"}], None,
         "successor sim-nope of sim/sim-large is not in the model catalog"),
        ([{"provider": "sim", "model": "sim-large-2", "successor": "sim-large",
           "deprecation_date": "2027-02-01"}], None,
         "successor loop in the model catalog: sim-large → sim-large-2 → sim-large"),
    ],
)
def test_bad_upgrades_are_one_sentence_config_errors(
    tmp_path: Path, catalog: list[Any], to: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        plan(release(tmp_path, fallbacks=[]), Catalog.load(catalog), to)
    assert message in err.value.message and "\n" not in err.value.message


def test_a_model_without_successor_needs_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sim/sim-small has no successor in the catalog"):
        plan(release(tmp_path, model="sim-small", fallbacks=[]))
