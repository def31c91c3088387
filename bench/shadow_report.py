"""Bench: `rampway shadow report` over 10k and 100k pairs (issue #14: ≤ 5 s for 100k).

Synthetic pairs shaped like a support feature's traffic: 60% plain-text answers of 100-900
characters, 25% JSON extractions (five fields, one garbled in 10% of answers), 15% tool calls;
users send ~8 requests each; a twin for 20% of the requests. The candidate is more verbose,
breaks JSON and calls tools a little more often, so the report has real work to do (every
class, exemplars, intervals). Times `build_report` plus all three renderings, best of
`--repeats`, after building the pairs; wall and CPU time (the machine may be shared).
`--similarity embedding` scores texts with MiniLM (the rampway[embeddings] extra) instead of
token sets: the model is loaded before timing, each repeat starts with an empty text cache.

    .venv/bin/python bench/shadow_report.py [--sizes 10000 100000] [--repeats 3]
    .venv/bin/python bench/shadow_report.py --similarity embedding --sizes 1000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

from rampway.shadow import Answer, Pair, ToolUse
from rampway.shadow.report import build_report, render_markdown, render_text, text_similarity

WORDS = ("order", "ship", "return", "refund", "account", "password", "delivery", "invoice", "days",
         "business", "within", "please", "help", "center", "details", "standard", "express",
         "international", "support", "team", "item", "label", "tracking", "number", "warehouse",
         "policy", "store", "credit", "exchange", "size", "colour", "the", "you", "your", "can",
         "we", "will", "is", "a", "to", "of", "and", "in", "for", "on", "it", "our", "be")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _json(rng: random.Random, seed: int, broken: bool, garbled: bool) -> str:
    own = random.Random(seed)  # the request's invoice: the same on both sides of a pair
    doc = {"vendor": own.choice(["ACME Inc", "Globex", "Initech"]),
           "invoice_number": f"INV-{own.randint(1000, 99999)}",
           "total": round(own.uniform(10, 9000), 2), "currency": own.choice(["USD", "EUR"]),
           "due_date": f"2026-{own.randint(1, 12):02d}-{own.randint(1, 28):02d}"}
    if garbled:
        doc[rng.choice(list(doc))] = "?"
    return json.dumps(doc)[:-1] + ",}" if broken else json.dumps(doc)


def _answer(rng: random.Random, kind: str, base: int, *, candidate: bool) -> Answer:
    latency = rng.lognormvariate(6.0, 0.35) * (1.1 if candidate else 1.0)
    if kind == "tool" and rng.random() < (0.97 if candidate else 0.85):
        oid = f"A-{base}" if rng.random() < 0.8 else f"A-{base + 1}"
        return Answer(latency_ms=latency, output_tokens=12, cost_usd=0.0002,
                      tool_calls=(ToolUse("lookup_order", json.dumps({"order_id": oid})),),
                      finish_reason="tool_calls")
    if kind == "json":
        text = _json(rng, base, rng.random() < (0.1 if candidate else 0.02), rng.random() < 0.1)
    else:
        words = int(rng.uniform(20, 150) * (1.6 if candidate else 1.0))
        text = _text(rng, words)
    return Answer(latency_ms=latency, output_tokens=len(text) // 4,
                  cost_usd=len(text) * 2.5e-6, text=text, finish_reason="stop")


def make_pairs(n: int, seed: int = 1) -> list[Pair]:
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for i in range(n):
        kind = rng.choices(("text", "json", "tool"), (0.6, 0.25, 0.15))[0]
        unit = f"user-{rng.randrange(max(1, n // 8))}"
        primary = _answer(rng, kind, 10_000 + i, candidate=False)
        excerpt = _text(rng, 12)
        pairs.append(Pair("bench", f"req{i}", unit, 1.7e9 + i, "candidate", "bot@v3", primary,
                          _answer(rng, kind, 10_000 + i, candidate=True), excerpt))
        if rng.random() < 0.2:
            pairs.append(Pair("bench", f"req{i}", unit, 1.7e9 + i, "twin", "bot@v2", primary,
                              _answer(rng, kind, 10_000 + i, candidate=False), excerpt))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--similarity", choices=("token_set", "embedding"), default="token_set")
    args = parser.parse_args()
    if args.similarity == "embedding":
        from rampway.shadow.embeddings import load_model

        load_model()
    for size in args.sizes:
        pairs = make_pairs(size)
        best, cpu = float("inf"), float("inf")
        for _ in range(args.repeats):
            similarity = text_similarity(args.similarity)  # a cold cache each time
            start, start_cpu = time.perf_counter(), time.process_time()
            report = build_report(pairs, name="bench", similarity=similarity)
            render_text(report), render_markdown(report), report.to_json()
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
        flagged = ", ".join(f.rate.name for f in report.flagged)
        print(f"{size:>7} candidate requests ({len(pairs)} pairs incl. twins): "
              f"{best:.2f} s wall, {cpu:.2f} s CPU, best of {args.repeats} "
              f"({best / len(pairs) * 1e6:.1f} µs/pair); flagged: {flagged}")
        embedded = getattr(similarity, "embedded", None)
        if embedded:
            print(f"  {args.similarity}: {embedded} distinct texts embedded, "
                  f"{best / embedded * 1e3:.1f} ms each (wall)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
