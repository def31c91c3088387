"""End-to-end through the ASGI app in-process: resolution, headers, events, errors."""

from __future__ import annotations

import httpx
from gateway_helpers import Proj, rows

from rampway.gateway import Runtime


async def test_chat_completion_is_served_by_the_production_release(
    client: httpx.AsyncClient, proj: Proj, runtime: Runtime
) -> None:
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "support-bot", "user": "u1",
              "messages": [{"role": "user", "content": "Where is my order A-10442?"}]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["x-rampway-release"] == proj.v1.id
    assert r.headers["x-rampway-arm"] == "production"
    assert r.headers["x-request-id"] == body["id"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["prompt_tokens"] > 0
    assert runtime.writer.flush(5)
    (row,) = rows(proj.db_url)
    assert row.id == body["id"] and row.release_id == proj.v1.id and row.status == "ok"
