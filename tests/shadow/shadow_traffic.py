"""A realistic, deterministic mix of shadow pairs for exact-result tests: plain texts (reworded,
padded, reformatted, identical, not kept), JSON answers (garbled fields, broken, fenced, missing
keys, a NaN), tool calls (other arguments, added, dropped, renamed, invalid arguments), refusals,
errors, timeouts, truncations and empty answers; a twin for half of the requests, sharing its
candidate's primary `Answer` as `load_pairs` does.

`tests/shadow/data/report_vectors.json` holds what the comparison and the report made of
`traffic()` before `compare_many` and the batched read existed (written by
`python tests/shadow/shadow_traffic.py` on that code), so a speed-up cannot change a result.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path
from typing import Any

from rampway.shadow.compare import compare
from rampway.shadow.model import Answer, Pair, ToolUse
from rampway.shadow.report import build_report

VECTORS = Path(__file__).parent / "data" / "report_vectors.json"
WORDS = ("order", "ships", "Monday", "refund", "within", "30", "days", "the", "your", "we",
         "can", "help", "delivery", "address", "password", "reset", "link", "email", "to", "a")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _invoice(rng: random.Random) -> dict[str, Any]:
    return {"vendor": rng.choice(["ACME Inc", "Globex"]), "total": round(rng.uniform(1, 900), 2),
            "lines": [{"sku": "A1", "qty": rng.randint(1, 3)}], "meta": {"currency": "USD"}}


def _text_side(rng: random.Random, base: str, candidate: bool) -> Answer:
    roll = rng.random()
    if roll < 0.15:
        text = base
    elif roll < 0.25:
        text = "  " + base.upper() + "!"  # formatting only
    elif roll < 0.3 or candidate and roll < 0.45:
        text = f"Sorry, I can't help with that. {base}" if candidate else base
    elif roll < 0.45:
        text = base + " " + _words(rng, rng.randint(10, 60))  # longer
    elif roll < 0.5:
        text = base[: len(base) // 3]  # shorter
    elif roll < 0.53:
        text = "   "  # empty
    elif candidate and roll < 0.7:
        text = "Thanks for asking! Our team replies within one business day."  # dissimilar
    else:
        text = _words(rng, rng.randint(5, 40))
    finish = "length" if rng.random() < 0.03 else "stop"
    return Answer(latency_ms=rng.lognormvariate(6, 0.4), output_tokens=len(text) // 4,
                  cost_usd=len(text) * 2e-6, text=text, finish_reason=finish)


def _json_side(rng: random.Random, doc: dict[str, Any], candidate: bool) -> Answer:
    doc = json.loads(json.dumps(doc))
    roll = rng.random()
    if roll < 0.1:
        doc["total"] = str(doc["total"])  # loosely equal
    elif roll < 0.2:
        doc["vendor"] = doc["vendor"].lower()
    elif roll < 0.3:
        doc["meta"]["currency"] = "EUR"
    elif roll < 0.35:
        del doc["lines"]
    elif roll < 0.4:
        doc["lines"].append({"sku": "B2", "qty": 1})
    text = json.dumps(doc)
    if candidate and rng.random() < 0.1:
        text = text[:-1] + ",}"  # broken
    elif rng.random() < 0.05:
        text = f"```json\n{text}\n```"
    elif rng.random() < 0.03:
        text = text.replace(str(doc["total"]), "NaN", 1)
    return Answer(latency_ms=rng.lognormvariate(6.2, 0.3), output_tokens=40,
                  cost_usd=1e-4, text=text, finish_reason="stop")


def _tool_side(rng: random.Random, order: str, candidate: bool) -> Answer:
    roll = rng.random()
    if roll < 0.1:
        return Answer(latency_ms=300.0, output_tokens=20, cost_usd=5e-5,
                      text="Your order is on its way.", finish_reason="stop")  # no call
    name = "lookup_order" if roll < 0.9 else "track_order"
    args = json.dumps({"order_id": order if rng.random() < 0.8 else order + "0"})
    if candidate and rng.random() < 0.05:
        args = '{"order_id": '  # invalid arguments
    calls = (ToolUse(name, args),) * (2 if rng.random() < 0.05 else 1)
    return Answer(latency_ms=rng.lognormvariate(5.5, 0.3), output_tokens=12, cost_usd=3e-5,
                  tool_calls=calls, finish_reason="tool_calls")


def _side(rng: random.Random, kind: str, seed: Any, candidate: bool) -> Answer:
    roll = rng.random()
    if roll < 0.03:
        return Answer(status="error", error_code=rng.choice(["timeout", "upstream_5xx"]),
                      latency_ms=30_000.0 if candidate else 900.0)
    if roll < 0.05:
        return Answer(latency_ms=200.0, output_tokens=5, refusal=True, text="I won't do that.",
                      finish_reason="stop")
    if kind == "json":
        return _json_side(rng, seed, candidate)
    if kind == "tool":
        return _tool_side(rng, seed, candidate)
    answer = _text_side(rng, seed, candidate)
    if rng.random() < 0.05:  # texts not kept
        answer = dataclasses.replace(answer, text=None)
    return answer


def traffic(n: int = 500, seed: int = 11) -> list[Pair]:
    """`n` requests from `n // 6` users; a twin for about half of them."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for i in range(n):
        kind = rng.choices(("text", "json", "tool"), (0.6, 0.25, 0.15))[0]
        base: Any = {"text": _words(rng, rng.randint(8, 50)), "json": _invoice(rng),
                     "tool": f"A-{1000 + i}"}[kind]
        unit = f"user-{rng.randrange(max(1, n // 6))}" if rng.random() < 0.95 else None
        primary = _side(rng, kind, base, candidate=False)
        excerpt = _words(rng, 6) if rng.random() < 0.9 else None
        out.append(Pair("s", f"req{i}", unit, 1.7e9 + i, "candidate", "bot@v3", primary,
                        _side(rng, kind, base, candidate=True), excerpt))
        if rng.random() < 0.5:
            out.append(Pair("s", f"req{i}", unit, 1.7e9 + i, "twin", "bot@v2", primary,
                            _side(rng, kind, base, candidate=False), excerpt))
    return out


def comparison_json(c: Any) -> dict[str, Any]:
    """A `Comparison` as JSON (sets sorted)."""
    return {f.name: sorted(v) if isinstance(v, frozenset) else v
            for f in dataclasses.fields(c) for v in [getattr(c, f.name)]}


def report_json(pairs: list[Pair]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(build_report(pairs, name="s").to_json()))
    return doc


def write() -> None:
    pairs = traffic()
    doc = {"comparisons": [comparison_json(compare(p.primary, p.mirrored)) for p in pairs],
           "report": report_json(pairs)}
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS}: {len(pairs)} pairs, flagged "
          f"{[f['class'] for f in doc['report']['flagged']]}", file=sys.stderr)


def answer_columns(a: Answer) -> dict[str, Any]:
    """The `shadow_pairs` / `request_events` columns of one answer (stores a Pair as written)."""
    calls = [{"name": c.name, "arguments": c.arguments} for c in a.tool_calls] or None
    return {"status": a.status, "error_code": a.error_code, "latency_ms": a.latency_ms,
            "ttft_ms": a.ttft_ms, "input_tokens": a.input_tokens,
            "output_tokens": a.output_tokens, "cost_usd": a.cost_usd,
            "finish_reason": a.finish_reason, "refusal": a.refusal, "tool_calls": calls,
            "output_chars": len(a.text or "")}


if __name__ == "__main__":
    write()
