"""The rollout judge on traffic as users send it: A/A false alarms and power, per unit (now)
against per request (the judge before issue #11), on the same simulated traffic.

Traffic (tests/rollout/clustered_traffic.py): users of ~20 requests each whose requests are
alike (ICC 1/6 for errors, log-latency and output length), looked at 40 times over a step.
Each guardrail's first FAIL over the 40 looks is counted.

    .venv/bin/python bench/judge_power.py [--runs 300] [--json]

Figures: A/A false-alarm rate per guardrail at margin 0, at alpha 0.05 and at the default
plan's per-guardrail alpha (0.05 / (3 guardrails x 4 judged steps) = 0.0042); power as the
share of runs that catch a 1% -> 3% error rate and a 40% slower p95, with the median look and
the median number of candidate units by then.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "rollout"))

from clustered_traffic import Traffic  # noqa: E402

from rampway.rollout import Guardrail, Verdict, judge  # noqa: E402

LOOKS = 40
PLAN_ALPHA = 0.05 / (3 * 4)
SOURCES = {"error": "error_rate", "output_tokens": "output_length", "latency_ms": "latency_p95"}


def guardrail(metric: str, margin: float = 0.0) -> Guardrail:
    return Guardrail.model_validate({"metric": metric, "margin": {"relative": margin},
                                     "min_sample": 200})


def first_failures(traffic: Traffic, rng: np.random.Generator, alpha: float,
                   per_request: bool, sources: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """source -> (look, candidate units) of its first FAIL."""
    found: dict[str, tuple[int, int]] = {}
    for look, view in enumerate(traffic.looks(rng, LOOKS, per_request=per_request), 1):
        for source in sources:
            if source in found:
                continue
            base, cand = view[source]
            if judge(base, cand, guardrail(SOURCES[source]), alpha=alpha).verdict is Verdict.FAIL:
                units = int(np.unique(view[source][1].units).size) if not per_request else -1
                found[source] = (look, units)
    return found


def false_alarms(runs: int, alpha: float, per_request: bool, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    traffic = Traffic(users=600, share=0.5, error_p=0.05)
    hits = dict.fromkeys(SOURCES, 0)
    for _ in range(runs):
        for source in first_failures(traffic, rng, alpha, per_request, tuple(SOURCES)):
            hits[source] += 1
    return {SOURCES[s]: n / runs for s, n in hits.items()}


def power(runs: int, users: int, share: float, per_request: bool, seed: int,
          ) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for source, traffic in (
        ("error", Traffic(users=users, share=share, error_p=0.01, candidate_error_p=0.03)),
        ("latency_ms", Traffic(users=users, share=share, error_p=0.01, candidate_latency=1.4)),
    ):
        caught = [first_failures(traffic, rng, PLAN_ALPHA, per_request, (source,))
                  for _ in range(runs)]
        hits = [c[source] for c in caught if source in c]
        out[SOURCES[source]] = {
            "caught": len(hits) / runs,
            "median_look": float(np.median([h[0] for h in hits])) if hits else None,
            "median_candidate_units": (float(np.median([h[1] for h in hits]))
                                       if hits and not per_request else None),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {"false_alarms": {}, "power": {}}
    for mode, per_request in (("per_unit", False), ("per_request", True)):
        result["false_alarms"][mode] = {
            f"alpha={alpha:.4g}": false_alarms(args.runs, alpha, per_request, seed=1)
            for alpha in (0.05, PLAN_ALPHA)
        }
        result["power"][mode] = {
            f"{users} users at {share:.0%}": power(max(20, args.runs // 10), users, share,
                                                   per_request, seed=2)
            for users, share in ((2000, 0.05), (2000, 0.5), (20000, 0.05))
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"A/A false alarms over {LOOKS} looks ({args.runs} runs, 600 users, ICC 1/6, "
          "~20 requests per user, margin 0):")
    for mode, by_alpha in result["false_alarms"].items():
        for alpha, rates in by_alpha.items():
            shown = ", ".join(f"{m} {r:.1%}" for m, r in rates.items())
            print(f"  {mode:<11} {alpha:<12} {shown}")
    print(f"power at alpha {PLAN_ALPHA:.4g} (1% -> 3% error rate; p95 +40%):")
    for mode, configs in result["power"].items():
        for config, metrics in configs.items():
            shown = "; ".join(
                f"{m} caught {v['caught']:.0%}, look {v['median_look']}"
                + (f", {v['median_candidate_units']:.0f} candidate units"
                   if v["median_candidate_units"] is not None else "")
                for m, v in metrics.items())
            print(f"  {mode:<11} {config:<20} {shown}")
    print(f"({result['seconds']} s)")


if __name__ == "__main__":
    main()
