"""In-process flag evaluations per second: rampway vs GrowthBook's Python SDK, same rules.

The flag has 5 rules — two conditions, a segment (id list), a percentage rollout behind a
condition, a catch-all condition — and a default. Both engines get identical definitions
(GrowthBook: a saved group for the segment, a v2-hashed coverage rule for the rollout), and the
bench first checks they agree on every context before timing anything.

    .venv/bin/python bench/flag_eval.py [--n 200000] [--json]

Two figures for rampway: every evaluation with a new unit (no bucket memo hits: the worst case)
and 10,000 recurring users (the realistic case: the same users call again and again).
GrowthBook's SDK keeps no such memo, so it is timed once. Target: >= 250,000/s and >= 5x.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from rampway.assign import cached_bucket
from rampway.flags import FlagSet

FLAG = "support-bot.model"
BETA = [f"user-{i}" for i in range(0, 100_000, 997)]

RAMPWAY_DOC: dict[str, Any] = {
    "segments": {"beta": {"ids": BETA}},
    "flags": {
        FLAG: {
            "type": "string",
            "default": "mini",
            "rules": [
                {
                    "condition": {"country": {"$in": ["XX", "YY"]}, "plan": "enterprise"},
                    "value": "blocked",
                },
                {"segment": "beta", "value": "beta-model"},
                {
                    "condition": {
                        "app_version": {"$vgte": "3.0.0"},
                        "request.estimated_tokens": {"$gt": 8000},
                    },
                    "value": "long-context",
                },
                {
                    "condition": {"plan": {"$in": ["pro", "team"]}},
                    "percentage": 30,
                    "value": "large",
                },
                {"condition": {"plan": "free", "country": {"$ne": "US"}}, "value": "small"},
            ],
        }
    },
}

GB_FEATURES: dict[str, Any] = {
    FLAG: {
        "defaultValue": "mini",
        "rules": [
            {
                "condition": {"country": {"$in": ["XX", "YY"]}, "plan": "enterprise"},
                "force": "blocked",
            },
            {"condition": {"id": {"$inGroup": "beta"}}, "force": "beta-model"},
            {
                "condition": {
                    "app_version": {"$vgte": "3.0.0"},
                    "request.estimated_tokens": {"$gt": 8000},
                },
                "force": "long-context",
            },
            {
                "condition": {"plan": {"$in": ["pro", "team"]}},
                "coverage": 0.3,
                "hashAttribute": "id",
                "seed": FLAG,
                "hashVersion": 2,
                "force": "large",
            },
            {"condition": {"plan": "free", "country": {"$ne": "US"}}, "force": "small"},
        ],
    }
}


def contexts(n: int, users: int, seed: int = 1) -> list[tuple[dict[str, Any], str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        unit = f"user-{i % users}"
        ctx = {
            "id": unit,
            "country": rng.choice(["US", "DE", "FR", "IN", "BR", "XX"]),
            "plan": rng.choice(["free", "free", "pro", "team", "enterprise"]),
            "app_version": rng.choice(["2.9.1", "3.0.0", "3.1.0-beta.2", "3.2.4"]),
            "request": {"estimated_tokens": rng.randint(10, 12_000)},
        }
        out.append((ctx, unit))
    return out


def time_it(fn: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def rampway_rate(data: list[tuple[dict[str, Any], str]]) -> float:
    fs = FlagSet.from_dict(RAMPWAY_DOC)
    evaluate = fs.evaluate

    def run() -> None:
        for ctx, unit in data:
            evaluate(FLAG, ctx, unit)

    return time_it(run, len(data))


def growthbook_rate(data: list[tuple[dict[str, Any], str]]) -> float:
    from growthbook import GrowthBook

    gb = GrowthBook(features=GB_FEATURES, saved_groups={"beta": BETA})

    def run() -> None:
        for ctx, _unit in data:
            gb.set_attributes(ctx)
            gb.eval_feature(FLAG)

    return time_it(run, len(data))


def check_agreement(data: list[tuple[dict[str, Any], str]]) -> int:
    """Both engines give the same value on every context; returns how many were checked."""
    from growthbook import GrowthBook

    fs = FlagSet.from_dict(RAMPWAY_DOC)
    gb = GrowthBook(features=GB_FEATURES, saved_groups={"beta": BETA})
    for ctx, unit in data:
        gb.set_attributes(ctx)
        ours, theirs = fs.evaluate(FLAG, ctx, unit).value, gb.eval_feature(FLAG).value
        if ours != theirs:
            raise SystemExit(f"engines disagree on {ctx}: rampway {ours!r}, growthbook {theirs!r}")
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="evaluations per measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    checked = check_agreement(contexts(20_000, 20_000, seed=2))
    fresh = contexts(args.n, args.n)
    recurring = contexts(args.n, 10_000)
    cached_bucket.cache_clear()
    cold = rampway_rate(fresh)
    rampway_rate(recurring)  # warm the memo with the 10,000 users
    warm = rampway_rate(recurring)
    gb_n = max(args.n // 5, 1)
    gb = growthbook_rate(fresh[:gb_n])
    result = {
        "rules": 5,
        "agreement_checked": checked,
        "rampway_evals_per_s_new_units": round(cold),
        "rampway_evals_per_s_recurring_units": round(warm),
        "growthbook_evals_per_s": round(gb),
        "ratio_new_units": round(cold / gb, 2),
        "ratio_recurring_units": round(warm / gb, 2),
        "target_evals_per_s": 250_000,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"flag with 5 rules; engines agree on {checked} contexts")
    print(f"rampway   (new unit each call): {cold:>11,.0f} evals/s  {1e6 / cold:.2f} us")
    print(f"rampway   (10,000 users)      : {warm:>11,.0f} evals/s  {1e6 / warm:.2f} us")
    print(f"growthbook {_gb_version():<19}: {gb:>11,.0f} evals/s  {1e6 / gb:.2f} us")
    print(f"ratio: {cold / gb:.1f}x (new units), {warm / gb:.1f}x (recurring users)")


def _gb_version() -> str:
    from importlib.metadata import version

    return version("growthbook")


if __name__ == "__main__":
    main()
