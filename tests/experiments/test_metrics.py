"""The experiment metric catalogue: every form parses to the right kind and columns, and every
bad name is a ConfigError that says what would have been valid."""

from __future__ import annotations

import pytest

from rampway.errors import ConfigError
from rampway.experiments.metrics import (
    FORMS,
    METRICS,
    MetricDef,
    feedback_names,
    metric_def,
)


@pytest.mark.parametrize(
    ("name", "kind", "numerator", "denominator"),
    [
        ("error_rate", "ratio", "errors", "requests"),
        ("refusal_rate", "ratio", "refusals", "requests"),
        ("latency_ms", "ratio", "latency_ms_sum", "ok_requests"),
        ("cost_per_request", "ratio", "cost_usd_sum", "requests"),
        ("output_tokens", "ratio", "output_tokens_sum", "ok_requests"),
        ("cost_per_unit", "mean", "cost_usd_sum", None),
        ("requests_per_unit", "mean", "requests", None),
        ("latency_p95", "quantile", "latency_ms", None),
        ("conversion:signup", "proportion", "converted:signup", None),
        ("feedback:thumbs_up", "ratio", "feedback_sum:thumbs_up", "feedback_count:thumbs_up"),
        ("retention:7d", "proportion", "last_ts", None),
    ],
)
def test_each_form_has_its_kind_and_columns(
    name: str, kind: str, numerator: str, denominator: str | None
) -> None:
    d = metric_def(name)
    assert (d.name, d.kind, d.numerator, d.denominator) == (name, kind, numerator, denominator)


def test_parameterised_forms_carry_their_parameter() -> None:
    assert metric_def("latency_p95").q == 0.95
    assert metric_def("retention:30d").days == 30
    assert metric_def("retention:1d").days == 1
    assert metric_def("conversion:checkout:done").feedback == "checkout:done"
    assert metric_def("feedback:csat.score").feedback == "csat.score"
    assert metric_def("error_rate").feedback is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("p95", "unknown metric 'p95'; valid metrics: error_rate, refusal_rate"),
        ("latency_p99", "unknown metric 'latency_p99'"),
        ("retention:0d", "retention:<N>d with N whole days in 1..365"),
        ("retention:7", "retention:<N>d"),
        ("retention:7days", "retention:<N>d"),
        ("retention:366d", "1..365"),
        ("conversion:", "expected conversion:<feedback name>"),
        ("feedback:two words", "expected feedback:<feedback name>"),
        ("feedback:-x", "expected feedback:<feedback name>"),
        ("", "unknown metric ''"),
    ],
)
def test_bad_names_are_config_errors_listing_the_valid_forms(name: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        metric_def(name)
    assert expected in str(info.value)


def test_the_unknown_name_message_lists_every_form() -> None:
    with pytest.raises(ConfigError) as info:
        metric_def("thumbs")
    for form in FORMS:
        assert form in str(info.value)
    assert "conversion:<feedback name>" in FORMS and "retention:<N>d" in FORMS


def test_non_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        metric_def(7)  # type: ignore[arg-type]


def test_fixed_metrics_are_keyed_by_their_own_name() -> None:
    assert all(isinstance(d, MetricDef) and d.name == k for k, d in METRICS.items())
    assert metric_def("error_rate") is METRICS["error_rate"]


def test_feedback_names_are_read_once_in_order() -> None:
    defs = [metric_def(n) for n in ("feedback:thumbs", "error_rate", "conversion:signup",
                                    "conversion:thumbs", "retention:1d")]
    assert feedback_names(defs) == ("thumbs", "signup")
