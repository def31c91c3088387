"""Gate decisions frozen as JSON vectors, plus policy-file validation with file:line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rampway.errors import ConfigError
from rampway.gate.model import GateInput, Verdict
from rampway.gate.policy import Policy, decide, default_policy
from rampway.gate.run import load_policy

VECTORS = Path(__file__).parent / "vectors" / "decisions.json"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vector" in metafunc.fixturenames:
        cases = json.loads(VECTORS.read_text(encoding="utf-8"))
        metafunc.parametrize("vector", cases, ids=[c["name"] for c in cases])


def test_decision_vector(vector: dict[str, Any]) -> None:
    policy = Policy.model_validate(vector["policy"])
    data = GateInput.from_json({"feature": "bot", **vector["input"]})
    decision = decide(policy, data)
    expect = vector["expect"]
    assert decision.verdict.value == expect["verdict"]
    failing = sorted(o.axis for o in decision.outcomes if o.verdict is Verdict.FAIL)
    pending = sorted(o.axis for o in decision.outcomes if o.verdict is Verdict.INCONCLUSIVE)
    assert failing == expect["failing_axes"]
    assert pending == expect["inconclusive_axes"]
    assert list(decision.tradeoffs_applied) == expect["tradeoffs_applied"]
    if expect["more_cases"] is not None:
        assert decision.more_cases == expect["more_cases"]


def test_gate_input_round_trips_through_json() -> None:
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))[0]
    data = GateInput.from_json({"feature": "bot", **vector["input"]})
    assert GateInput.from_json(data.to_json()) == data


def test_default_policy_guards_every_quality_metric_cost_and_chat_latency() -> None:
    policy = default_policy(["quality", "accuracy"])
    assert policy.rules["quality"].max_drop == 2
    assert policy.rules["accuracy"].max_drop == 2
    assert policy.rules["cost"].max_increase == 5
    assert policy.rules["latency_p95"].traffic_classes == ["chat"]


def _suite(tmp_path: Path) -> Any:
    from rampway.evals.suite import load_suite

    suite = tmp_path / "evals" / "bot" / "suite.yaml"
    suite.parent.mkdir(parents=True)
    suite.write_text(
        "cases:\n  - {input: hi, expect: {answer: hello}}\n"
        "scorers:\n  answer: {type: normalized}\n"
    )
    return load_suite(suite, "bot", tmp_path)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "rules:\n  quality: {max_drop: 1}\n  qualty: {max_drop: 1}\n",
            3,
            "unknown metric 'qualty'",
        ),
        ("rules:\n  cost: {max_drop: 1}\n", 2, "use max_increase"),
        ("rules:\n  quality: {max_drop: 1, max_increase: 2}\n", 2, "exactly one of"),
        ("confidence: 1.5\n", 1, "confidence"),
        ("rules:\n  quality: {max_drop: lots}\n", 2, "not an amount"),
        (
            "tradeoffs:\n  - name: x\n    when: {cost: {min_decrease: 50%}}\n"
            "    allow: {speed: {max_drop: 3}}\n",
            4,
            "unknown metric 'speed'",
        ),
        ("rules: [\n", 2, "malformed YAML"),
    ],
)
def test_bad_policy_names_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    suite = _suite(tmp_path)
    path = tmp_path / "policies" / "bot.yaml"
    path.parent.mkdir()
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_policy(tmp_path, "bot", suite)
    assert err.value.message.startswith(f"policies/bot.yaml:{line}:"), err.value.message
    assert message in err.value.message


def test_policy_amounts_accept_percent_and_points(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    path = tmp_path / "policies" / "bot.yaml"
    path.parent.mkdir()
    path.write_text("rules:\n  quality: {max_drop: 2 pts}\n  cost: {max_increase: 7.5%}\n")
    policy, source = load_policy(tmp_path, "bot", suite)
    assert source == "policies/bot.yaml"
    assert policy.rules["quality"].max_drop == 2
    assert policy.rules["cost"].max_increase == 7.5
