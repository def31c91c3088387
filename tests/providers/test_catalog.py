"""Model catalog: bundled entries, merging, validation, cost, token estimate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rampway.errors import ConfigError
from rampway.providers.catalog import Catalog, ModelInfo, bundled_as_of, estimate_tokens, staleness
from rampway.providers.types import Message, ToolCall, Usage


def test_bundled_catalog_has_the_sim_models_with_their_prices() -> None:
    cat = Catalog.bundled()
    large = cat.get("sim", "sim-large")
    assert (large.input_per_mtok, large.output_per_mtok, large.cached_input_per_mtok) == (
        2.5,
        10.0,
        1.25,
    )
    assert large.context_window == 128000
    assert large.deprecation_date == dt.date(2027, 2, 1)
    assert large.successor == "sim-large-2"
    small = cat.get("sim", "sim-small")
    assert (small.input_per_mtok, small.output_per_mtok, small.cached_input_per_mtok) == (
        0.15,
        0.6,
        0.075,
    )
    assert cat.get("sim", "sim-large-2").context_window == 200000
    assert cat.get("local", "smollm2-135m-instruct").cost(Usage(10_000, 10_000)) == 0.0


def test_bundled_catalog_covers_openai_and_anthropic() -> None:
    cat = Catalog.bundled()
    providers = {e.provider for e in cat}
    assert {"sim", "openai", "anthropic", "local"} <= providers
    assert sum(1 for e in cat if e.provider == "openai") >= 8
    assert sum(1 for e in cat if e.provider == "anthropic") >= 8


#: Announced replacements whose context window the catalog could not confirm (catalog.yaml's
#: header): named as successors, not priced. A typo in a successor still fails below.
UNPRICED = {("openai", m) for m in ("gpt-6.1-terra", "gpt-5.6-sol", "gpt-5.6-terra",
                                    "gpt-5.6-luna")} | {
    ("anthropic", m) for m in ("claude-opus-5-5", "claude-opus-4-8", "claude-sonnet-4-6")} | {
    ("google", m) for m in ("gemini-3.8-flash", "gemini-3.5-flash-lite",
                            "gemini-3.1-pro-preview")}


def test_every_successor_is_in_the_catalog_or_a_known_unpriced_replacement() -> None:
    cat = Catalog.bundled()
    named = set()
    for entry in cat:
        if entry.successor:
            named.add((entry.provider, entry.successor))
            assert (entry.provider, entry.successor) in cat or (
                entry.provider, entry.successor) in UNPRICED, entry
        if entry.deprecation_date and entry.retirement_date:
            assert entry.deprecation_date <= entry.retirement_date, entry
    assert named >= UNPRICED  # no stale exceptions


def test_bundled_catalog_is_dated_and_covers_the_major_providers() -> None:
    as_of = bundled_as_of()
    cat = Catalog.bundled()
    assert as_of >= dt.date(2026, 12, 1)
    for provider in ("openai", "anthropic", "google"):
        entries = [e for e in cat if e.provider == provider]
        assert len(entries) >= 6, provider
        assert any(e.retirement_date is not None for e in entries), provider  # dated entries
        assert any(e.retirement_date is None for e in entries), provider  # and current models
    upcoming = {e.provider for e in cat if e.retirement_date and e.retirement_date > as_of}
    assert {"openai", "anthropic"} <= upcoming
    assert staleness(as_of, as_of + dt.timedelta(days=90)) is None
    message = staleness(as_of, as_of + dt.timedelta(days=91))
    assert message is not None and "91 days old" in message and "`catalog:` in rampway.yaml" in (
        message)


def test_cost_charges_cached_prompt_tokens_at_the_cached_price() -> None:
    cat = Catalog.bundled()
    # 1M prompt tokens of which 400k cached, 100k output on sim-large:
    # 600k * 2.50 + 400k * 1.25 + 100k * 10.00 per 1M = 1.5 + 0.5 + 1.0
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=400_000)
    assert cat.cost("sim", "sim-large", usage) == pytest.approx(3.0)
    assert cat.cost("sim", "sim-small", Usage(1000, 500)) == pytest.approx(0.00045)


def test_cached_price_defaults_to_the_input_price() -> None:
    info = ModelInfo("p", "m", input_per_mtok=2.0, output_per_mtok=4.0, context_window=10)
    assert info.cost(Usage(1_000_000, 0, cached_tokens=500_000)) == pytest.approx(2.0)


def test_unknown_model_is_a_config_error_that_says_how_to_add_it() -> None:
    with pytest.raises(ConfigError, match=r"unknown model sim/nope.*catalog:"):
        Catalog.bundled().get("sim", "nope")
    assert Catalog.bundled().find("sim", "nope") is None


def test_override_merges_only_the_given_fields() -> None:
    cat = Catalog.load([{"provider": "sim", "model": "sim-large", "input_per_mtok": 2.0}])
    large = cat.get("sim", "sim-large")
    assert large.input_per_mtok == 2.0
    assert large.output_per_mtok == 10.0 and large.successor == "sim-large-2"
    assert Catalog.bundled().get("sim", "sim-large").input_per_mtok == 2.5  # bundled untouched


def test_new_entries_extend_the_catalog() -> None:
    entry = {
        "provider": "vllm",
        "model": "llama-3.1-8b",
        "input_per_mtok": 0.0,
        "output_per_mtok": 0,
        "context_window": 131072,
        "retirement_date": "2027-01-01",
    }
    cat = Catalog.load([entry])
    info = cat.get("vllm", "llama-3.1-8b")
    assert info.retirement_date == dt.date(2027, 1, 1)
    assert len(cat) == len(Catalog.bundled()) + 1


def test_pydantic_like_entries_are_accepted() -> None:
    class Entry:
        def model_dump(self) -> dict[str, Any]:
            return {
                "provider": "sim",
                "model": "sim-small",
                "output_per_mtok": 1.0,
                "successor": None,
            }

    assert Catalog.load([Entry()]).get("sim", "sim-small").output_per_mtok == 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"provider": "x", "model": "y", "input_per_mtok": 1, "output_per_mtok": 1},
            r"entry #1 \(x/y\): missing required field\(s\) context_window",
        ),
        (
            {"provider": "sim", "model": "sim-large", "input_per_mtok": -1},
            r"entry #1 \(sim/sim-large\): input_per_mtok must be a finite number >= 0",
        ),
        (
            {"provider": "sim", "model": "sim-large", "input_per_mtok": "cheap"},
            r"input_per_mtok must be a number",
        ),
        (
            {"provider": "sim", "model": "sim-large", "context_window": 0},
            r"context_window must be a positive integer",
        ),
        (
            {"provider": "sim", "model": "sim-large", "deprecation_date": "soon"},
            r"deprecation_date must be a date YYYY-MM-DD",
        ),
        (
            {"provider": "sim", "model": "sim-large", "price": 3},
            r"entry #1 \(sim/sim-large\): unknown field\(s\) price",
        ),
        (
            {"model": "y", "input_per_mtok": 1, "output_per_mtok": 1, "context_window": 5},
            r"entry #1: missing required field\(s\) provider",
        ),
        ("sim-large", r"entry #1: expected a mapping"),
    ],
)
def test_invalid_entries_are_config_errors_naming_the_entry(entry: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog.load([entry])


def test_second_bad_entry_is_named_by_position() -> None:
    good = {"provider": "sim", "model": "sim-small", "input_per_mtok": 0.1}
    with pytest.raises(ConfigError, match=r"catalog entry #2 \(sim/sim-large\)"):
        Catalog.load([good, {"provider": "sim", "model": "sim-large", "max_output": -5}])


def test_sunsetting_lists_models_deprecated_or_retired_by_a_day() -> None:
    cat = Catalog.bundled()
    names = {e.model for e in cat.sunsetting(dt.date(2027, 2, 1))}
    assert "sim-large" in names and "sim-large-2" not in names
    assert "sim-large" not in {e.model for e in cat.sunsetting(dt.date(2027, 1, 31))}


def test_to_json_uses_iso_dates() -> None:
    data = Catalog.bundled().get("sim", "sim-large").to_json()
    assert data["deprecation_date"] == "2027-02-01" and data["successor"] == "sim-large-2"


def test_estimate_tokens_grows_with_content_tools_and_messages() -> None:
    one = [Message("user", "x" * 400)]
    assert 100 <= estimate_tokens(one) <= 110
    two = [*one, Message("assistant", None, tool_calls=[ToolCall("c1", "f", "y" * 400)])]
    assert estimate_tokens(two) >= estimate_tokens(one) + 100
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"d": "z" * 400}}}]
    assert estimate_tokens(one, tools) >= estimate_tokens(one) + 100
    assert estimate_tokens([]) > 0


def test_override_may_omit_the_provider_when_the_model_name_is_unique() -> None:
    cat = Catalog.load([{"model": "sim-large", "output_per_mtok": 9.0}])
    assert cat.get("sim", "sim-large").output_per_mtok == 9.0
    ambiguous = Catalog.load(
        [
            {
                "provider": "vllm",
                "model": "gpt-4o",
                "input_per_mtok": 0,
                "output_per_mtok": 0,
                "context_window": 1000,
            }
        ]
    )
    with pytest.raises(ConfigError, match=r"gpt-4o\): model exists for providers openai, vllm"):
        ambiguous.merged([{"model": "gpt-4o", "input_per_mtok": 1.0}])
    with pytest.raises(ConfigError, match="missing required field"):
        Catalog.load([{"model": "brand-new", "input_per_mtok": 1.0}])


def test_unsupported_params_are_validated_and_kept_sorted() -> None:
    catalog = Catalog.load([{"provider": "sim", "model": "sim-large-2",
                             "unsupported_params": ["top_p", "temperature"]}])
    info = catalog.get("sim", "sim-large-2")
    assert info.unsupported_params == ("temperature", "top_p")
    assert info.to_json()["unsupported_params"] == ["temperature", "top_p"]
    assert "temperature" in Catalog.bundled().get("openai", "o3").unsupported_params
    with pytest.raises(ConfigError, match="unsupported_params: unknown parameter"):
        Catalog.load([{"provider": "sim", "model": "sim-large", "unsupported_params": ["tmp"]}])
