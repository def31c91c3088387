"""Gate JUnit output validates against the JUnit schema CI readers enforce, and an
INCONCLUSIVE rule is a failure or a skip as the policy's `inconclusive:` says (issue #17 #11)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema

from rampway.gate.model import GateInput, Verdict
from rampway.gate.policy import Decision, Policy, RuleOutcome
from rampway.gate.report import GateReport, junit

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "schemas" / "junit.xsd")


def _report(inconclusive: str) -> GateReport:
    outcomes = (
        RuleOutcome("quality", "quality: max_drop 1", Verdict.PASS, reason="within margin"),
        RuleOutcome("cost", "cost: max_increase 5%", Verdict.FAIL, reason="cost +12%"),
        RuleOutcome("latency_p95", "latency_p95: max_increase 10%", Verdict.INCONCLUSIVE,
                    reason="interval straddles the margin"),
        RuleOutcome("latency_p95", "latency_p95 (batch)", None, reason="not for chat"),
    )
    data = GateInput(feature="support-bot", traffic_class="chat", n_cases=40, repeats=1,
                     confidence=0.95, axes={})
    policy = Policy.model_validate({"inconclusive": inconclusive})
    return GateReport(data, policy, Decision(Verdict.FAIL, outcomes))


@pytest.mark.parametrize(("inconclusive", "failures", "skipped"), [("fail", 2, 1),
                                                                    ("warn", 1, 2)])
def test_inconclusive_follows_the_policy_and_the_xml_validates(
    inconclusive: str, failures: int, skipped: int
) -> None:
    text = junit([_report(inconclusive)])
    SCHEMA.validate(text)
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("errors")) == ("4", "0")
    assert (suite.get("failures"), suite.get("skipped")) == (str(failures), str(skipped))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", str(failures),
                                                                             "0")
    case = next(c for c in suite.iter("testcase") if c.get("name").startswith("latency_p95:"))
    verdict = case.find("failure" if inconclusive == "fail" else "skipped")
    assert verdict is not None and verdict.get("type") == "inconclusive"


def test_the_schema_rejects_what_readers_reject() -> None:
    # Guards the guard: a suite without `errors` (what the gate wrote before) is invalid.
    assert not SCHEMA.is_valid('<testsuites><testsuite name="x" tests="1" failures="0">'
                               '<testcase name="a"/></testsuite></testsuites>')


def test_nothing_to_gate_is_valid_junit_too() -> None:
    from rampway.cli.gate import _nothing

    SCHEMA.validate(_nothing("junit"))


def test_markdown_says_when_it_cuts_a_list() -> None:
    from dataclasses import replace

    from rampway.gate.report import markdown

    report = _report("fail")
    many = replace(report.data, newly_passing=tuple(f"case-{i}" for i in range(22)))
    text = markdown(GateReport(many, report.policy, report.decision))
    assert "Newly passing (22, 20 shown): " in text and "`case-19`" in text
    assert "`case-20`" not in text and "(see the JSON report)" in text
    few = replace(report.data, newly_passing=("case-1", "case-2"))
    text = markdown(GateReport(few, report.policy, report.decision))
    assert "Newly passing (2): `case-1`, `case-2`" in text and "shown" not in text
