"""Helpers for adapter tests: httpx MockTransport handlers and a stream that breaks mid-body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

SECRET = "sk-test-SECRET-0123456789abcdef"


class BrokenStream(httpx.AsyncByteStream):
    """Yields `parts`, then fails like a reset connection."""

    def __init__(self, parts: list[bytes], error: Exception | None = None) -> None:
        self.parts = parts
        self.error = error or httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        raise self.error


def sse(*events: Any, done: bool = False, named: bool = False) -> bytes:
    """Encode events as SSE; with `named`, each event is (name, payload)."""
    out = []
    for event in events:
        if named:
            name, payload = event
            out.append(f"event: {name}\ndata: {json.dumps(payload)}\n\n")
        else:
            out.append(f"data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


class Recorder:
    """A MockTransport handler that records requests and answers with `respond(request)`."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def body(self, index: int = -1) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[index].content)
        return data


def error_body(
    message: str, code: str | None = None, etype: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "code": code, "param": None}}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
NO_FAULTS = {
    "rate_429": 0.0,
    "rate_500": 0.0,
    "rate_503": 0.0,
    "rate_hang": 0.0,
    "rate_reset": 0.0,
    "rate_midstream_cut": 0.0,
    "script": [],
}


def reset_sim(server: Any) -> None:
    """Back to the bundled, fault-free config between tests sharing one server."""
    models = {m: {"faults": NO_FAULTS} for m in ("sim-large", "sim-small", "sim-large-2")}
    server.patch_config({"api_key": None, "models": models})
