"""No field silently dropped (issue #17 item 1): OpenAI generation parameters reach the upstream
request (and `logprobs` come back), those a provider cannot honour are a 400 naming the field,
and Anthropic `stop_sequences` yield `stop_reason: "stop_sequence"` with the matched sequence.
The real `openai` / `anthropic` clients against a served gateway, the simulator behind it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from gateway_helpers import Proj, serve

from rampway.errors import ConfigError, RequestError
from rampway.gateway import Runtime
from rampway.gateway._openai import parse_request
from rampway.gateway.pipeline import check_params
from rampway.router import Target

ASK = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def base_url(proj: Proj) -> Iterator[str]:
    with serve(Runtime.from_project(proj.project)) as url:
        yield url


def test_openai_params_reach_the_upstream_request(runtime: Runtime) -> None:
    body = {"model": "echo", "messages": ASK, "frequency_penalty": 0.5,
            "presence_penalty": -0.25, "seed": 7, "stop": ["\n\n"], "logprobs": True,
            "top_logprobs": 3}
    record = runtime.pipeline.prepare(parse_request(body, {}))
    request = record.request
    assert request is not None
    assert (request.seed, request.stop) == (7, ["\n\n"])
    assert request.extra == {"frequency_penalty": 0.5, "presence_penalty": -0.25,
                             "logprobs": True, "top_logprobs": 3}


def test_logprobs_come_back_through_the_openai_client(base_url: str) -> None:
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as oai:
        plain = oai.chat.completions.create(model="echo", messages=ASK,  # type: ignore[arg-type]
                                            temperature=0)
        scored = oai.chat.completions.create(model="echo", messages=ASK,  # type: ignore[arg-type]
                                             temperature=0, logprobs=True, top_logprobs=2,
                                             seed=3, frequency_penalty=0.1)
    assert plain.choices[0].logprobs is None
    logprobs = scored.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    text = scored.choices[0].message.content or ""
    assert "".join(t.token for t in logprobs.content) == text
    for entry in logprobs.content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].token == entry.token


def test_what_the_simulator_cannot_honour_is_a_400_naming_it(base_url: str) -> None:
    with openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as oai:
        with pytest.raises(openai.BadRequestError) as refused:
            oai.chat.completions.create(model="echo", messages=ASK,  # type: ignore[arg-type]
                                        logit_bias={"50256": -100})
        with pytest.raises(openai.BadRequestError) as streamed:
            oai.chat.completions.create(model="echo", messages=ASK,  # type: ignore[arg-type]
                                        logprobs=True, stream=True)
    assert refused.value.param == "logit_bias" and "sim" in refused.value.message
    assert streamed.value.param == "logprobs"


def test_anthropic_targets_refuse_openai_only_params() -> None:
    kinds = {"claude": "anthropic", "gpt": "openai"}
    chain = [Target("gpt", "gpt-4o"), Target("claude", "claude-sonnet")]
    check_params({"temperature": 0.2, "stop": ["END"]}, chain, kinds.__getitem__)
    with pytest.raises(RequestError) as err:  # the fallback could not honour it: refused too
        check_params({"seed": 1, "top_logprobs": 2}, chain, kinds.__getitem__)
    assert err.value.param == "seed" and "claude" in err.value.message

    def unknown(name: str) -> str:
        raise ConfigError(f"unknown provider {name!r}")

    check_params({"seed": 1}, chain, unknown)  # unroutable targets are the router's business


@pytest.mark.parametrize(("body", "param"), [
    ({"frequency_penalty": 3}, "frequency_penalty"),
    ({"logit_bias": {"abc": 1}}, "logit_bias"),
    ({"logit_bias": {"12": 101}}, "logit_bias"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"logprobs": "yes"}, "logprobs"),
])
def test_bad_values_are_a_400_naming_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_request({"model": "echo", "messages": ASK, **body}, {})
    assert err.value.param == param


def test_anthropic_stop_sequences_report_the_match(base_url: str) -> None:
    with anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        full = client.messages.create(model="echo", max_tokens=200, messages=ASK,  # type: ignore[arg-type]
                                      extra_body={"temperature": 0})
        text = full.content[0].text  # type: ignore[union-attr]
        words = text.split()
        assert len(words) > 3, text
        stop = " " + words[2]
        cut = client.messages.create(model="echo", max_tokens=200, messages=ASK,  # type: ignore[arg-type]
                                     extra_body={"temperature": 0},
                                     stop_sequences=["@@never@@", stop])
        with client.messages.stream(model="echo", max_tokens=200, messages=ASK,  # type: ignore[arg-type]
                                    extra_body={"temperature": 0}, stop_sequences=[stop]) as stream:
            streamed = stream.get_final_message()
    assert full.stop_reason == "end_turn" and full.stop_sequence is None
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", stop)
    assert cut.content[0].text == text[: text.index(stop)]  # type: ignore[union-attr]
    assert (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", stop)


def test_anthropic_top_k_reaches_the_upstream_request(runtime: Runtime) -> None:
    from rampway.gateway._anthropic import parse_request as parse_messages_request

    call = parse_messages_request({"model": "echo", "max_tokens": 50, "messages": ASK,
                                   "top_k": 5, "stop_sequences": ["END"]}, {})
    request = runtime.pipeline.prepare(call).request
    assert request is not None and request.extra == {"top_k": 5} and request.stop == ["END"]
    with pytest.raises(RequestError) as err:
        parse_messages_request({"model": "echo", "messages": ASK, "top_k": -1}, {})
    assert err.value.param == "top_k"
