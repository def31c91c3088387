"""Small wire-fidelity items of issue #17 (item 4) with the real `openai` and `anthropic`
clients: `GET /v1/models/{id}` and Anthropic's `request-id` response header."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from gateway_helpers import Proj, serve

from rampway.gateway import Runtime

ASK = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


def test_openai_models_retrieve(base_url: str, proj: Proj) -> None:
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as oai:
        model = oai.models.retrieve("support-bot")
        prefixed = oai.models.retrieve("rampway/echo")
        with pytest.raises(openai.NotFoundError) as missing:
            oai.models.retrieve("no-such-feature")
    assert (model.id, model.object, model.owned_by) == ("support-bot", "model", "rampway")
    assert model.model_extra is not None and model.model_extra["release"] == proj.v1.id
    assert prefixed.id == "echo"
    assert "no-such-feature" in str(missing.value)


def test_anthropic_responses_carry_request_id(base_url: str) -> None:
    with anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        message = client.messages.create(model="support-bot", max_tokens=64, messages=ASK,  # type: ignore[arg-type]
                                         metadata={"user_id": "u-1"})
        with client.messages.stream(model="support-bot", max_tokens=64, messages=ASK,  # type: ignore[arg-type]
                                    metadata={"user_id": "u-1"}) as stream:
            streamed = stream.get_final_message()
            stream_request_id = stream.response.headers.get("request-id")
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(model="support-bot", max_tokens=64, messages=ASK)  # type: ignore[arg-type]
    assert message._request_id == message.id  # the SDK's own accessor reads `request-id`
    assert stream_request_id == streamed.id
    assert refused.value.request_id is not None and refused.value.request_id.startswith("req_")
