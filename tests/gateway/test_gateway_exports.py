"""The public surface is what we meant (STYLE.md #12)."""

from __future__ import annotations

import rampway
import rampway.events
import rampway.gateway
import rampway.sdk


def test_gateway_exports() -> None:
    assert set(rampway.gateway.__all__) >= {
        "CallInput", "CallRecord", "ChannelResolver", "GatewayApp", "Hook", "Hooks", "Pipeline",
        "Resolution", "Resolver", "Runtime", "create_app",
    }
    for name in rampway.gateway.__all__:
        assert getattr(rampway.gateway, name) is not None


def test_events_exports() -> None:
    assert set(rampway.events.__all__) == {
        "DeadLetter", "DeadLetterFile", "EventSink", "EventWriter", "FeedbackEvent", "Redactor",
        "RequestEvent", "WriterStats", "hash_unit",
    }


def test_sdk_exports_and_lazy_top_level_clients() -> None:
    assert set(rampway.sdk.__all__) == {"AsyncClient", "Client", "Completion", "CompletionStream"}
    assert rampway.Client is rampway.sdk.Client
    assert rampway.AsyncClient is rampway.sdk.AsyncClient
    assert {"Client", "AsyncClient"} <= set(rampway.__all__)
