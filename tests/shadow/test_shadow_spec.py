"""Shadow definitions: what a valid file means, and every bad input refused as `file:line: why`."""

from __future__ import annotations

import pytest

from rampway.errors import ConfigError
from rampway.shadow import parse_definition

GOOD = """\
feature: support-bot
candidates: [releases/support-bot]
sample: 10%
condition: {plan: free, request.tools: true}
budget: {usd_per_day: 5, requests_per_s: 2}
ends: 7d
twin: 10
timeout: 30s
similarity: embedding
"""


def test_a_valid_definition_reads_as_written() -> None:
    d = parse_definition(GOOD, "shadows/v3.yaml")
    assert (d.feature, d.candidates, d.sample_bp, d.twin_bp) == (
        "support-bot", ["releases/support-bot"], 1000, 1000)
    assert d.budget.usd_per_day == 5 and d.budget.requests_per_s == 2
    assert d.ends_at(1000.0) == 1000.0 + 7 * 86400 and d.timeout == 30.0
    assert d.keep_text is True and d.similarity == "embedding"
    assert parse_definition("feature: f\ncandidates: v2\nsample: 1\nbudget: {usd_per_day: 1}\n",
                            "s.yaml").similarity == "token_set"  # the default


def test_one_candidate_may_be_a_plain_string_and_ends_an_iso_time() -> None:
    d = parse_definition("feature: f\ncandidates: v2\nsample: 0\nbudget: {usd_per_day: 1}\n"
                         "ends: 2030-01-01T00:00:00Z\n", "s.yaml")
    assert d.candidates == ["v2"] and d.sample_bp == 0
    assert d.ends_at(0.0) == 1893456000.0


@pytest.mark.parametrize(("line", "replacement", "why"), [
    (3, "sample: 101", "sample must be a percentage within 0–100, got 101"),
    (3, "sample: -1", "sample must be a percentage within 0–100"),
    (5, "budget: {usd_per_day: 0, requests_per_s: 2}", "a budget must be > 0, got 0"),
    (5, "budget: {usd_per_day: 5, requests_per_s: -3}", "a budget must be > 0, got -3"),
    (4, "condition: {plan: {$nope: 1}}", "the condition does not compile"),
    (2, "candidates: []", "give 1 to 4 candidates, got 0"),
    (2, "candidates: [a, a]", "a candidate is listed twice"),
    (6, "ends: soon", "duration"),
    (7, "twin: 200", "twin must be a percentage within 0–100"),
    (9, "similarity: cosine", "similarity: Input should be 'token_set' or 'embedding'"),
])
def test_bad_input_names_the_file_and_line(line: int, replacement: str, why: str) -> None:
    lines = GOOD.splitlines()
    lines[line - 1] = replacement
    with pytest.raises(ConfigError) as err:
        parse_definition("\n".join(lines) + "\n", "shadows/v3.yaml")
    assert err.value.message.startswith(f"shadows/v3.yaml:{line}: ")
    assert why in err.value.message


def test_an_unknown_key_and_a_missing_budget_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"s.yaml:5: .*samples"):
        parse_definition("feature: f\ncandidates: [v2]\nsample: 1\nbudget: {usd_per_day: 1}\n"
                         "samples: 10\n", "s.yaml")
    with pytest.raises(ConfigError, match="budget"):
        parse_definition("feature: f\ncandidates: [v2]\nsample: 10\n", "s.yaml")
