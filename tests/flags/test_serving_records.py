"""The flag step records what it evaluated (`NativeDecision.evaluations`, `Resolution.flags`):
each native flag it consulted, once, with the Evaluation it got — and nothing it did not need."""

from __future__ import annotations

from rampway.flags import FlagSet, Reason
from rampway.flags.serving import decide, native_plan

FLAGS = FlagSet.from_dict({"flags": {
    "bot.enabled": {"type": "bool", "default": True,
                    "rules": [{"condition": {"plan": "free"}, "value": False}]},
    "bot.fallback": {"type": "string", "default": "later"},
    "bot.model": {"type": "string", "default": "big",
                  "rules": [{"condition": {"plan": "pro"}, "value": "small"}]},
    "bot.other": {"type": "bool", "default": False},
    "other.model": {"type": "string", "default": "x"},
}})
PLAN = native_plan(FLAGS)["bot"]


def test_decide_records_each_evaluated_native_flag_with_its_evaluation() -> None:
    d = decide(FLAGS, PLAN, {"plan": "pro"}, "u1")
    assert set(d.evaluations) == {"bot.enabled", "bot.model"}  # no fallback, no other flags
    model = d.evaluations["bot.model"]
    assert (model.value, model.reason, model.rule_index) == ("small", Reason.TARGETING_MATCH, 0)
    assert d.model == "small" and d.fallback is None
    enabled = d.evaluations["bot.enabled"]
    assert (enabled.value, enabled.reason, enabled.rule_index) == (True, Reason.DEFAULT, None)
    # the recorded objects are the evaluations themselves: recording copies nothing
    assert model is FLAGS.evaluate("bot.model", {"plan": "pro"}, "u1")


def test_fallback_is_evaluated_and_recorded_only_when_the_feature_is_off() -> None:
    off = decide(FLAGS, PLAN, {"plan": "free"}, None)
    assert (off.enabled, off.fallback) == (False, "later")
    assert set(off.evaluations) == {"bot.enabled", "bot.fallback", "bot.model"}
    assert off.evaluations["bot.fallback"].reason is Reason.STATIC
    assert off.evaluations["bot.enabled"].rule_index == 0
