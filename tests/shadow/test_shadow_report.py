"""The report: counts, flagged classes with exemplars, failure modes, latency and cost deltas,
the verdict, and its three renderings."""

from __future__ import annotations

import json
import random

import numpy as np

from rampway.shadow.histogram import _bar, histogram, render_rows
from rampway.shadow.model import Answer, Pair, PairKind, ToolUse
from rampway.shadow.report import Verdict, build_report, describe, render_markdown, render_text

ANSWERS = [
    "Returns are accepted within 30 days of delivery.",
    "You can return an item within 30 days after it was delivered.",
    "Items may be returned up to 30 days after delivery.",
]


def pair(i: int, kind: PairKind, primary: Answer, mirrored: Answer) -> Pair:
    return Pair("v3", f"req{i}-{kind}", f"unit{i // 4}", 1.7e9 + i, kind,
                "support-bot@v3" if kind == "candidate" else "support-bot@v2", primary, mirrored,
                request_excerpt=f"How long do I have to return item {i}?")


def answer(rng: random.Random, *, verbose: bool = False, latency: float = 400.0,
           cost: float = 0.001) -> Answer:
    text = f"{rng.choice(ANSWERS)} (ref {rng.randint(1000, 9999)})"  # never twice the same
    if verbose:
        text = "Great question! 😊 " + text + " Let me know if there is anything else! " * 2
    return Answer(text=text, latency_ms=latency * rng.uniform(0.8, 1.25),
                  output_tokens=len(text) // 4, cost_usd=cost)


def traffic(n: int, *, verbose: bool, slower: float = 1.0, twins: bool = True) -> list[Pair]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        primary = answer(rng)
        out.append(pair(i, "candidate", primary,
                        answer(rng, verbose=verbose, latency=400 * slower,
                               cost=0.002 if verbose else 0.001)))
        if twins and i % 3 == 0:
            out.append(pair(i, "twin", primary, answer(rng)))
    return out


def test_equivalent_candidate_reads_no_difference_beyond_noise() -> None:
    report = build_report(traffic(600, verbose=False), name="same")
    assert report.verdict is Verdict.CLEAN and report.flagged == ()
    assert report.verdict_line.startswith("no difference beyond noise")
    assert report.candidate_pairs == 600 and report.twin_pairs == 200 and report.units == 150
    cost = report.cost.difference
    assert cost.lower <= 0 <= cost.upper


def test_verbose_candidate_is_flagged_with_three_exemplars() -> None:
    report = build_report(traffic(600, verbose=True, slower=1.5), name="v3", shed=7,
                          over_budget=2)
    assert report.verdict is Verdict.DIFFERENT
    # the padding is also many new words: the texts are dissimilar beyond the twin's rewording
    assert [f.rate.name for f in report.flagged] == [
        "verbosity:longer_1.5x", "verbosity:longer_2x", "text:dissimilar"]
    assert report.verdict_line == ("3 classes differ: verbosity:longer_1.5x, "
                                   "verbosity:longer_2x, text:dissimilar")
    flagged = report.flagged[0]
    assert len(flagged.exemplars) == 3
    assert len({e.unit_hash for e in flagged.exemplars}) == 3
    assert all("Great question" in e.candidate and "return item" in (e.request or "")
               for e in flagged.exemplars)
    p50, p95 = report.latency
    assert p50.difference.lower > 100 and p95.difference.lower > 0  # 1.5x slower
    assert report.cost.difference.lower > 0.0009 and report.cost.relative > 0.9
    assert report.shed == 7 and report.over_budget == 2
    assert report.releases == (("support-bot@v3", 600),)


def test_no_pairs_is_inconclusive() -> None:
    report = build_report([], name="empty")
    assert report.verdict is Verdict.INCONCLUSIVE and "no candidate pairs" in report.verdict_line
    doc = report.to_json()
    assert doc["pairs"] == {"candidate": 0, "twin": 0, "units": 0}
    assert doc["cost_per_request_usd"]["primary"] is None
    json.dumps(doc, allow_nan=False)
    assert "inconclusive" in render_text(report) and "inconclusive" in render_markdown(report)


def test_without_twins_the_report_says_the_floor_is_fixed() -> None:
    report = build_report(traffic(200, verbose=True, twins=False), name="v3")
    assert report.noise.source == "fixed" and "no twin pairs" in render_text(report)
    # at temperature > 0 wording always differs: without twins that shows as a difference
    assert "text:different" in {f.rate.name for f in report.flagged}


def test_failure_modes_table_counts_each_side() -> None:
    ok = Answer(text='{"intent": "refund"}', latency_ms=300)
    pairs = [pair(i, "candidate", ok, Answer(status="error", error_code="timeout"))
             for i in range(10)]
    pairs += [pair(10 + i, "candidate", ok, Answer(text='{"intent": ')) for i in range(5)]
    pairs += [pair(20 + i, "candidate", Answer(text="Sure: {"), Answer(text='{"intent": "x"}'))
              for i in range(2)]
    modes = {m.kind: m for m in build_report(pairs, name="f").failure_modes}
    assert modes["timeout"].candidate == 10 and modes["timeout"].primary == 0
    assert modes["invalid_json"].candidate == 5 and modes["invalid_json"].primary == 2
    assert modes["timeout"].twin is None and abs(modes["timeout"].candidate_rate - 10 / 17) < 1e-9


def test_json_is_stable_and_finite() -> None:
    report = build_report(traffic(300, verbose=True), name="v3")
    doc = report.to_json()
    assert set(doc) == {"name", "verdict", "verdict_line", "pairs", "shed", "over_budget",
                        "releases", "noise_floor", "flagged", "classes", "failure_modes",
                        "latency_ms", "cost_per_request_usd", "text_similarity_median",
                        "histograms"}
    assert doc["verdict"] == "differs" and set(doc["latency_ms"]) == {"p50", "p95"}
    flagged = doc["flagged"][0]
    assert flagged["class"] == "verbosity:longer_1.5x" and len(flagged["exemplars"]) == 3
    assert flagged["difference"]["lower"] > 0 and flagged["floor_rate"] < 0.2
    assert doc["noise_floor"]["margins"]["relative"] == 0.25
    json.dumps(doc, allow_nan=False)


def test_text_and_markdown_renderings() -> None:
    report = build_report(traffic(300, verbose=True), name="v3", shed=3)
    text = render_text(report)
    assert text.startswith("shadow v3: 3 classes differ: verbosity:longer_1.5x, ")
    assert "shed 3" in text and "FLAGGED" in text and "primary:" in text
    assert "latency p95" in text and "cost / request" in text
    md = render_markdown(report)
    assert md.startswith("## Shadow `v3`") and "### `verbosity:longer_2x`" in md
    assert "| request | primary | candidate |" in md
    assert "latency per request, ms (pairs where both sides answered):" in text
    assert "Cost per request, USD:" in md and md.count("```") == 4


def test_histograms_share_bins_and_show_the_shift() -> None:
    report = build_report(traffic(400, verbose=True, slower=2.0), name="v3")
    latency, cost = report.histograms
    assert latency.metric == "latency_ms" and cost.metric == "cost_per_request_usd"
    assert sum(latency.primary) == sum(latency.candidate) == 400
    assert len(latency.edges) == len(latency.primary) + 1 == 11
    assert list(latency.edges) == sorted(latency.edges)
    # 2x slower: the primary's mass sits in the low bins, the candidate's in the high ones
    half = len(latency.primary) // 2
    assert sum(latency.primary[:half]) > 0.9 * 400 and sum(latency.candidate[half:]) > 0.6 * 400
    # every primary costs 0.001 and every candidate 0.002: all in the end bins
    assert cost.primary[0] == 400 and cost.candidate[-1] == 400 and not cost.open_top
    doc = report.to_json()["histograms"]
    assert doc["latency_ms"]["primary"] == list(latency.primary)
    assert doc["cost_per_request_usd"]["edges"][0] == 0.001


def test_histogram_keeps_outliers_in_an_open_last_bin() -> None:
    values = np.append(np.linspace(100, 300, 400), 60_000.0)
    h = histogram("latency_ms", values, values)
    assert h.open_top and h.edges[-1] < 300  # the outlier does not stretch the bins
    assert sum(h.primary) == 401 and h.primary[-1] == 44  # 40 in range, 4 above its top
    rows = render_rows(h, lambda x: f"{x:,.0f}")
    assert rows[0].split() == ["primary", "(401)", "candidate", "(401)"]
    assert rows[-1].lstrip().startswith("≥ ") and rows[1].lstrip().startswith("100–")
    assert len(rows) == 11 and all("%" in r for r in rows[1:])


def test_histogram_bars_are_in_eighths_and_never_hide_a_few() -> None:
    assert _bar(0.5, 0.5) == "█" * 14
    assert _bar(0.25, 0.5) == "█" * 7 + " " * 7
    assert _bar(0.001, 0.5) == "▏" + " " * 13  # one request in a thousand still shows
    assert _bar(0.0, 0.5) == " " * 14


def test_histogram_of_nothing_or_one_value() -> None:
    empty = histogram("cost_per_request_usd", np.array([]), np.array([np.nan]))
    assert empty.empty and render_rows(empty, str) == []
    flat = histogram("cost_per_request_usd", np.array([0.5, 0.5]), np.array([0.5]))
    assert flat.primary == (2,) and flat.candidate == (1,) and not flat.open_top
    assert len(render_rows(flat, str)) == 2


def test_describe_shows_tool_calls_errors_and_cut_text() -> None:
    call = Answer(tool_calls=(ToolUse("lookup_order", '{"order_id": "A-1"}'),))
    assert describe(call) == '→ lookup_order({"order_id": "A-1"})'
    assert describe(Answer(status="error", error_code="timeout")) == "[error: timeout]"
    assert describe(Answer(text="x" * 1000)).endswith("…")
    assert len(describe(Answer(text="x" * 1000))) == 280
    assert describe(Answer(output_tokens=12)) == "[text not kept; 12 output tokens]"
    assert describe(Answer(refusal=True)) == "[refused]"
