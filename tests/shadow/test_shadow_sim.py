"""The shadow report on simulated traffic over real HTTP: `sim-large-2`, the "minor version
bump", is flagged on verbosity, JSON adherence and tool use; `sim-large` behind itself at
temperature > 0 shows nothing beyond noise.

Every request goes to the simulator three times at temperature 0.7: the primary (`sim-large`,
served), its twin (`sim-large` again: the noise floor) and the candidate (`sim-large-2`). Each
call carries its own seed, which the simulator honours as a real model does, so the answers are
independent samples and the test is reproducible. The same-model control is an A/A split of the
twin pairs: `sim-large` re-asked for half of the users is the "candidate", for the other half the
floor.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest

from rampway.providers.catalog import Catalog
from rampway.providers.openai_compat import OpenAICompatProvider
from rampway.providers.sim import SimServer, load_sim_config
from rampway.providers.types import ChatRequest, ChatResponse, Message
from rampway.shadow import Answer, Pair, PairKind, ToolUse
from rampway.shadow.report import Verdict, build_report, render_text

SUPPORT = "You are a helpful support agent for an online shop."
EXTRACT = "You turn supplier invoices into ledger rows."
ORDER_TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up the status of an order by its id",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                   "required": ["order_id"]}}}
FAQ = ("How long do I have to return an item?", "Do you ship internationally?",
       "How do I reset my password?", "Can I change my delivery address?",
       "What payment methods do you accept?")
VENDORS = ("Acme Supplies Inc", "Globex Corporation", "Initech LLC", "Umbrella Labs")
CATALOG = Catalog.bundled()


def requests() -> list[tuple[str, dict[str, Any]]]:
    """(unit, request) for a support feature's traffic: FAQ, JSON extraction asked for in the
    prompt only, and order questions with a tool — some naming the order, some only hinting.
    Each user sends several requests of one kind, as real users do."""
    rng = random.Random(3)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(80):
        out.append((f"faq-{i // 4}", {"messages": [Message("system", SUPPORT),
                                                  Message("user", FAQ[i % len(FAQ)])]}))
    for i in range(220):
        invoice = (f"INVOICE\nFrom: {rng.choice(VENDORS)}\n"
                   f"Invoice #: INV-{rng.randint(1000, 99999)}\n"
                   f"Total due: ${rng.uniform(10, 9000):,.2f}\nDue date: 2026-"
                   f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}\n")
        ask = ("Extract vendor, invoice_number, total, currency and due_date from this invoice. "
               "Reply with JSON only.\n")
        out.append((f"ap-{i // 4}", {"messages": [Message("system", EXTRACT),
                                                 Message("user", ask + invoice)]}))
    for i in range(120):
        order = f"A-{10000 + i}"
        ask = f"Where is my order {order}?" if i % 2 else f"Any news on the status of {order}?"
        out.append((f"orders-{i // 4}", {"messages": [Message("system", SUPPORT),
                                                     Message("user", ask)],
                                        "tools": [ORDER_TOOL]}))
    return out


def answer(resp: ChatResponse) -> Answer:
    return Answer(
        status="ok", latency_ms=resp.latency_s * 1000, input_tokens=resp.usage.input_tokens,
        output_tokens=resp.usage.output_tokens,
        cost_usd=CATALOG.cost("sim", resp.model, resp.usage), finish_reason=resp.finish_reason,
        refusal=resp.refusal is not None, text=resp.content,
        tool_calls=tuple(ToolUse(c.name, c.arguments) for c in resp.tool_calls or ()))


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimServer]:
    with SimServer(load_sim_config(), time_scale=0) as server:
        yield server


@pytest.fixture
async def provider(sim_server: SimServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider("sim", base_url=sim_server.openai_base_url)
    yield p
    await p.aclose()


async def ask_all(provider: OpenAICompatProvider, model: str, seed: int
                  ) -> list[Answer]:
    limit = asyncio.Semaphore(16)

    async def one(i: int, request: dict[str, Any]) -> Answer:
        async with limit:
            resp = await provider.complete(
                ChatRequest(model=model, temperature=0.7, seed=seed * 100_000 + i, **request),
                timeout=10)
        return answer(resp)

    return list(await asyncio.gather(*(one(i, r) for i, (_, r) in enumerate(requests()))))


def pairs(kind: PairKind, release: str, primary: list[Answer],
          mirrored: list[Answer]) -> list[Pair]:
    traffic = requests()
    return [Pair("shadow", f"req-{i}", unit, 1.7e9 + i, kind, release, p, m,
                 request_excerpt=req["messages"][-1].content[:120])
            for i, ((unit, req), p, m) in enumerate(zip(traffic, primary, mirrored, strict=True))]


@pytest.mark.slow
async def test_minor_version_bump_is_flagged_and_the_same_model_is_not(
    provider: OpenAICompatProvider,
) -> None:
    primary = await ask_all(provider, "sim-large", 1)
    twin = await ask_all(provider, "sim-large", 2)
    bump = await ask_all(provider, "sim-large-2", 3)
    floor = pairs("twin", "support-bot@prod", primary, twin)

    report = build_report([*pairs("candidate", "support-bot@bump", primary, bump), *floor],
                          name="bump")
    flagged = {f.rate.name for f in report.flagged}
    assert report.verdict is Verdict.DIFFERENT, render_text(report)
    assert "verbosity:longer_1.5x" in flagged, render_text(report)  # chattier
    assert flagged & {"failure:invalid_json", "failure:schema"}, render_text(report)  # JSON
    assert "tool_call:added" in flagged, render_text(report)  # acts on weaker tool cues
    assert all(len(f.exemplars) == 3 for f in report.flagged)

    half = {p.unit_hash for p in floor[::8]}  # every other user (4 requests per user)
    control = build_report([replace(p, kind="candidate" if p.unit_hash in half else "twin")
                            for p in floor], name="same")
    assert min(control.candidate_pairs, control.twin_pairs) >= 200
    assert control.verdict is Verdict.CLEAN, render_text(control)
    assert control.flagged == ()
    assert {c.name for c in control.noise.classes} >= {"text:different", "json_field:total"}
