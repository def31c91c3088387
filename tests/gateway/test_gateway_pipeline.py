"""The pipeline: managed vs pass-through assembly, parameter precedence, hooks, stream endings."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from gateway_helpers import Proj, rows, serve

from rampway.errors import RequestError
from rampway.gateway import CallInput, CallRecord, Hook, Runtime
from rampway.gateway.pipeline import build_request
from rampway.providers.types import Message


def _resolution(runtime: Runtime, feature: str):  # type: ignore[no-untyped-def]
    return runtime.pipeline.resolver.resolve(CallInput(feature, []), runtime.watcher.snapshot)


async def test_managed_release_wraps_the_app_conversation(runtime: Runtime) -> None:
    call = CallInput(
        "support-bot",
        [Message("system", "app system prompt: dropped"),
         Message("user", "first question"), Message("assistant", "first answer"),
         Message("user", "second question")],
        variables={"customer_name": "Ada"}, unit="u",
    )
    req = build_request(_resolution(runtime, "support-bot"), call)
    assert [(m.role, m.content) for m in req.messages] == [
        ("system", "You are the support assistant. Greet Ada."),
        ("user", "first question"), ("assistant", "first answer"),
        ("user", "second question"),
    ]
    assert req.model == "sim-large" and req.temperature == 0.2 and req.max_tokens == 200


async def test_passthrough_sends_app_messages_and_release_params_win(runtime: Runtime) -> None:
    call = CallInput("echo", [Message("system", "mine"), Message("user", "hi")],
                     params={"temperature": 1.5, "max_tokens": 7,
                             "tools": [{"type": "function", "function": {"name": "t"}}]})
    req = build_request(_resolution(runtime, "echo"), call)
    assert [(m.role, m.content) for m in req.messages] == [("system", "mine"), ("user", "hi")]
    assert req.model == "sim-small"
    assert req.temperature == 1.5 and req.max_tokens == 7  # the release sets neither
    assert req.tools == [{"type": "function", "function": {"name": "t"}}]

    # a release that declares tools owns them: another tool is refused, not silently dropped
    with pytest.raises(RequestError, match="owns its tools"):
        build_request(_resolution(runtime, "tools-bot"), CallInput(
            "tools-bot", [Message("user", "x")],
            params={"tools": [{"type": "function", "function": {"name": "other"}}]}))


async def test_a_failing_hook_never_fails_the_request(proj: Proj) -> None:
    class Broken(Hook):
        def after_call(self, record: CallRecord) -> None:
            raise RuntimeError("bug in a hook")

    class Seen(Hook):
        def __init__(self) -> None:
            self.records: list[CallRecord] = []

        def after_call(self, record: CallRecord) -> None:
            self.records.append(record)

    seen = Seen()
    rt = Runtime.from_project(proj.project, hooks=[Broken(), seen])
    await rt.start()
    try:
        record, response = await rt.pipeline.complete(
            CallInput("echo", [Message("user", "What is 1+1?")]))
    finally:
        await rt.stop()
    assert response.content and seen.records == [record]
    assert record.status == "ok" and record.resolution is not None


async def test_missing_required_template_variable_is_a_request_error(
    runtime: Runtime, proj: Proj
) -> None:
    # support-bot's variable is optional; a template referencing an undeclared one cannot be
    # published, so exercise the required check through a custom resolution instead.
    res = _resolution(runtime, "support-bot")
    spec = res.release.spec.model_copy(update={"variables": {
        "customer_name": res.release.spec.variables["customer_name"].model_copy(
            update={"required": True})}})
    from rampway.release import Release

    strict = Release(res.release.feature, spec, res.release.files)
    with pytest.raises(RequestError, match="customer_name") as info:
        build_request(type(res)(res.feature, strict, res.arm), CallInput(
            "support-bot", [Message("user", "hi")], unit="u"))
    assert info.value.param == "rampway.vars"


def test_cut_after_output_is_a_clean_stream_error_not_a_truncated_answer(proj: Proj) -> None:
    rt = Runtime.from_project(proj.project)
    cut = {"faults": {"rate_midstream_cut": 1.0, "cut_after_chunks": 3}}
    rt.providers.get("sim").patch_config(  # type: ignore[attr-defined]
        {"models": {m: cut for m in ("sim-large", "sim-small", "sim-large-2")}})
    with serve(rt) as url:
        with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="echo", stream=True,
                messages=[{"role": "user", "content": "Explain your refund policy in detail."}])
            with pytest.raises(openai.APIError, match="interrupted"):
                for _ in stream:
                    pass
        raw = httpx.post(url + "/v1/chat/completions", json={
            "model": "echo", "stream": True,
            "messages": [{"role": "user", "content": "Explain your refund policy."}]})
        assert "[DONE]" not in raw.text
        last = [line for line in raw.text.splitlines() if line.startswith("data: ")][-1]
        assert json.loads(last[6:])["error"]["code"] == "stream_interrupted"
    error_rows = [r for r in rows(proj.db_url) if r.status == "error"]
    assert len(error_rows) == 2
    assert all(r.error_code == "stream_interrupted" and r.stream for r in error_rows)
