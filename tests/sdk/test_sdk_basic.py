"""rampway.Client / rampway.AsyncClient: same resolution, routing and event path in-process."""

from __future__ import annotations

import pytest
from gateway_helpers import Proj, feedback_events, rows

import rampway
from rampway.errors import RefError, RequestError
from rampway.store import Store


async def test_async_client_serves_the_production_release_and_logs_the_event(proj: Proj) -> None:
    async with rampway.AsyncClient(proj.project) as client:
        out = await client.complete("support-bot", input="Hello there", unit="user-1",
                                    vars={"customer_name": "Ada"})
        assert out.release_id == proj.v1.id and out.arm == "production"
        assert out.content and out.usage.output_tokens > 0
        fb = await client.feedback("thumbs_up", True, request_id=out.request_id)
    (row,) = rows(proj.db_url)
    assert row.id == out.request_id and row.source == "sdk" and row.protocol == "sdk"
    (fbrow,) = rows(proj.db_url, feedback_events)
    assert fbrow.id == fb and fbrow.value == 1.0 and fbrow.request_id == out.request_id


def test_sync_client_complete_stream_and_rollback(proj: Proj) -> None:
    with rampway.Client(proj.project) as client:
        out = client.complete("echo", [{"role": "user", "content": "What is 2+3?"}])
        assert out.release_id == proj.echo.id
        chunks = list(client.stream("echo", input="What is 2+3?"))
        text = "".join(c.content or "" for c in chunks)
        assert text and chunks[-1].finish_reason is not None or any(c.finish_reason for c in chunks)
        with Store.open(proj.db_url) as store:
            store.set_channel("support-bot", "production", proj.v2.id, actor="t", reason="v2")
        import time

        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            got = client.complete("support-bot", input="hi", unit="u").release_id
            if got == proj.v2.id:
                break
            time.sleep(0.05)
        assert got == proj.v2.id


def test_bad_input_raises_one_clear_error(proj: Proj) -> None:
    with rampway.Client(proj.project) as client:
        with pytest.raises(RefError, match="unknown feature"):
            client.complete("nope", input="x")
        with pytest.raises(RequestError, match="requires a unit"):
            client.complete("support-bot", input="x")
        with pytest.raises(RequestError, match="temperature"):
            client.complete("echo", input="x", temperature=9)
        with pytest.raises(RequestError, match="unknown parameter"):
            client.complete("echo", input="x", bogus=1)
        with pytest.raises(RequestError, match="messages"):
            client.complete("echo")
    assert rows(proj.db_url) == []
