"""Property-based fuzzing of the gateway's own routes from a hand-written OpenAPI description
(issue #12, point 5): whatever schemathesis generates for the OpenAI (chat and Responses),
Anthropic and feedback endpoints — valid bodies (positive mode) and their mutations (negative
mode: wrong types, odd strings, huge numbers, missing fields) — the answer is never a 5xx and
no traceback is logged. The upstream is the in-process simulator without faults, so any 5xx
would be the gateway's own.
"""

from __future__ import annotations

import collections
import itertools
import logging
from typing import Any

import pytest
import schemathesis
from gateway_helpers import Proj, serve
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from rampway.gateway import Runtime

EXAMPLES_PER_OPERATION = 40

_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
_ATTRIBUTES = {"type": "object", "additionalProperties": _SCALAR, "maxProperties": 8}
_TEXT = {"type": "string", "maxLength": 200}
# The gateway's real contract (positive cases should be served; negative ones mutate it).
CHAT = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "enum": ["echo", "tools-bot", "rampway/echo"]},
        "messages": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
            "type": "object",
            "properties": {
                "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
                "content": _TEXT,
            },
            "required": ["role", "content"],
            "additionalProperties": False,
        }},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 512},
        "seed": {"type": "integer"},
        "n": {"type": "integer", "enum": [1]},
        "stream": {"type": "boolean"},
        "stop": {"type": "array", "items": _TEXT, "maxItems": 4},
        "user": {"type": "string", "minLength": 1, "maxLength": 100},
        "metadata": _ATTRIBUTES,
        "response_format": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["text", "json_object"]}},
            "required": ["type"]},
        "rampway": {"type": "object", "additionalProperties": False, "properties": {
            "unit": {"type": "string", "minLength": 1, "maxLength": 100},
            "attributes": _ATTRIBUTES,
        }},
    },
    "required": ["model", "messages"],
    "additionalProperties": False,
}
MESSAGES = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "enum": ["echo", "tools-bot"]},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 512},
        "messages": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
            "type": "object",
            "properties": {"role": {"type": "string", "enum": ["user", "assistant"]},
                           "content": _TEXT},
            "required": ["role", "content"],
            "additionalProperties": False,
        }},
        "system": _TEXT,
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "stop_sequences": {"type": "array", "items": _TEXT, "maxItems": 4},
        "stream": {"type": "boolean"},
        "metadata": {"type": "object", "properties": {"user_id": _TEXT},
                     "additionalProperties": False},
    },
    "required": ["model", "messages", "max_tokens"],
    "additionalProperties": False,
}
_SCHEMA = {"type": "object", "maxProperties": 4, "additionalProperties": _SCALAR}
RESPONSES = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "enum": ["echo", "tools-bot", "rampway/echo"]},
        "input": {"oneOf": [_TEXT, {"type": "array", "minItems": 1, "maxItems": 4, "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["message"]},
                "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
                "content": _TEXT,
            },
            "required": ["role", "content"],
            "additionalProperties": False,
        }}]},
        "instructions": _TEXT,
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 512},
        "stream": {"type": "boolean"},
        "user": {"type": "string", "minLength": 1, "maxLength": 100},
        "metadata": _ATTRIBUTES,
        "store": {"type": "boolean", "enum": [False]},
        "tools": {"type": "array", "maxItems": 2, "items": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": ["function"]},
                           "name": {"type": "string", "pattern": "^[a-z_]{1,20}$"},
                           "description": _TEXT, "parameters": _SCHEMA},
            "required": ["type", "name"],
            "additionalProperties": False,
        }},
        "tool_choice": {"type": "string", "enum": ["auto", "none"]},
        "text": {"type": "object", "additionalProperties": False, "properties": {
            "format": {"type": "object", "properties": {
                "type": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
                "name": {"type": "string", "pattern": "^[a-z_]{1,20}$"},
                "schema": _SCHEMA}, "required": ["type"]}}},
    },
    "required": ["model", "input"],
    "additionalProperties": False,
}
FEEDBACK = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "unit": {"type": "string", "minLength": 1, "maxLength": 200},
        "feature": {"type": "string", "enum": ["echo", "support-bot"]},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}$"},
        "value": {"type": "number"},
        "time": {"type": "number", "minimum": 0, "maximum": 1_700_000_000},
        "attributes": _ATTRIBUTES,
    },
    "required": ["unit", "name", "value"],
    "additionalProperties": False,
}


def _post(schema: dict[str, Any]) -> dict[str, Any]:
    return {"post": {
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": schema}}},
        "responses": {"200": {"description": "ok"}, "202": {"description": "accepted"},
                      "400": {"description": "bad input"}},
    }}


GATEWAY_OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "rampway gateway (model routes)", "version": "1"},
    "paths": {
        "/v1/chat/completions": _post(CHAT),
        "/v1/messages": _post(MESSAGES),
        "/v1/responses": _post(RESPONSES),
        "/v1/feedback": _post(FEEDBACK),
        "/v1/models": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
}


@pytest.mark.slow
def test_no_gateway_route_answers_5xx(proj: Proj, caplog: pytest.LogCaptureFixture) -> None:
    with serve(Runtime.from_project(proj.project)) as url:
        _fuzz(url, caplog)


def _fuzz(url: str, caplog: pytest.LogCaptureFixture) -> None:
    schema = schemathesis.openapi.from_dict(GATEWAY_OPENAPI)
    failures: list[str] = []
    statuses: list[tuple[str, int]] = []
    operations = 0
    for result, mode in itertools.product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # nothing to mutate: no parameters, no body
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(base_url=url)
            statuses.append((case.path, response.status_code))
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} {case.body!r:.300} -> "
                                f"{response.status_code}: {response.text[:300]}")

        with caplog.at_level(logging.ERROR):
            call()
    assert operations == 9  # 4 POSTs x (positive, negative) + GET /v1/models
    assert failures == []
    served = {path for path, status in statuses if status in (200, 202)}
    # the generator reaches the upstream, it is not refused wholesale at the edge
    assert served == {"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/feedback",
                      "/v1/models"}
    assert collections.Counter(status for _, status in statuses)[200] >= 20
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
