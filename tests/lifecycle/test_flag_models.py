"""Models named in flags (pure): every servable value that names a catalog model."""

from __future__ import annotations

from rampway.flags._parse import parse_flag
from rampway.lifecycle.flagmodels import flag_model_uses
from rampway.providers.catalog import Catalog

KINDS = {"sim": "sim", "oa": "openai"}


def test_default_rules_and_variations_are_all_found_once_each() -> None:
    flag = parse_flag("support-bot.model", {
        "type": "string", "default": "sim-large",
        "rules": [{"condition": {"plan": "free"}, "value": "sim/sim-small"},
                  {"percentage": 50, "variations": [{"value": "sim-large", "weight": 50},
                                                    {"value": "oa/gpt-4o", "weight": 50}]}],
    })
    uses = flag_model_uses([flag], Catalog.bundled(), KINDS)
    assert [(k, where, f"{i.provider}/{i.model}") for k, where, i in uses] == [
        ("support-bot.model", "default", "sim/sim-large"),
        ("support-bot.model", "rules[0].value", "sim/sim-small"),
        ("support-bot.model", "rules[1].variations.1.value", "openai/gpt-4o"),
    ]


def test_values_that_name_no_model_and_non_string_flags_are_ignored() -> None:
    flags = [
        parse_flag("greeting", {"type": "string", "default": "hello there"}),
        parse_flag("summarizer-model", {"type": "string", "default": "unknown-model"}),
        parse_flag("bot.max_tokens", {"type": "number", "default": 600}),
        parse_flag("writer-model", {"type": "string", "default": "gpt-4o"}),
    ]
    uses = flag_model_uses(flags, Catalog.bundled(), KINDS)
    assert [(k, i.model) for k, _, i in uses] == [("writer-model", "gpt-4o")]
