"""Rendering: sandboxed Jinja2, strict undefined, compiled once; base_request fills the spec."""

from __future__ import annotations

import pytest
from release_helpers import BASE_FILES, BASE_YAML, WriteRelease

from rampway.errors import ReleaseError
from rampway.providers.types import Message
from rampway.release import Release, load_release
from rampway.release import _release as release_module


def _load(write_release: WriteRelease, yaml_text: str = BASE_YAML,
          files: dict[str, str] | None = None) -> Release:
    return load_release(write_release("bot", yaml_text, BASE_FILES if files is None else files))


def test_render_system_few_shot_and_user_template(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML.replace(
        "  user: prompts/user.j2",
        "  user: prompts/user.j2\n  few_shot: [{user: hi, assistant: hey}]",
    )
    messages = _load(write_release, yaml_text).render({"name": "Ada"}, user_message="Where?")
    assert messages == [
        Message("system", "You help Ada.\nBe brief."),
        Message("user", "hi"),
        Message("assistant", "hey"),
        Message("user", "Question: Where?"),
    ]


def test_missing_required_variable_names_it(write_release: WriteRelease) -> None:
    release = _load(write_release)
    with pytest.raises(ReleaseError, match="missing template variable 'name'"):
        release.render({}, user_message="x")


def test_user_template_needs_the_user_message(write_release: WriteRelease) -> None:
    with pytest.raises(ReleaseError, match="'input' is undefined"):
        _load(write_release).render({"name": "Ada"})


def test_optional_variable_may_be_absent(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML + "    required: false\n"
    files = {**BASE_FILES, "prompts/system.md":
             "Hi {{ name | default('there') }}{% if name is defined %}!{% endif %}"}
    release = _load(write_release, yaml_text, files)
    assert release.render({}, "q")[0].content == "Hi there"
    assert release.render({"name": "Bo"}, "q")[0].content == "Hi Bo!"


def test_strict_undefined_catches_missing_attributes(write_release: WriteRelease) -> None:
    files = {**BASE_FILES, "prompts/system.md": "You help {{ name.first }}."}
    release = _load(write_release, files=files)
    assert release.render({"name": {"first": "Ada"}}, "q")[0].content == "You help Ada."
    with pytest.raises(ReleaseError, match="template variable missing"):
        release.render({"name": {}}, "q")


def test_sandbox_blocks_unsafe_attribute_access(write_release: WriteRelease) -> None:
    files = {**BASE_FILES, "prompts/system.md": "{{ name.__class__.__mro__ }}"}
    with pytest.raises(ReleaseError):
        _load(write_release, files=files).render({"name": "x"}, "q")


def test_without_user_template_the_user_message_is_appended(write_release: WriteRelease) -> None:
    release = _load(write_release, BASE_YAML.replace("  user: prompts/user.j2\n", ""))
    assert release.render({"name": "A"}, "hello")[-1] == Message("user", "hello")
    assert [m.role for m in release.render({"name": "A"})] == ["system"]


def test_inline_user_template(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML.replace("user: prompts/user.j2", 'user: "Q: {{ input }}"')
    only_system = {"prompts/system.md": BASE_FILES["prompts/system.md"]}
    release = _load(write_release, yaml_text, only_system)
    assert release.render({"name": "A"}, "x")[-1].content == "Q: x"
    assert list(release.files) == ["prompts/system.md"]


def test_undeclared_extra_variables_are_ignored(write_release: WriteRelease) -> None:
    assert _load(write_release).render({"name": "A", "other": 1}, "x")[0].content.startswith(
        "You help A")


def test_templates_compile_once_per_release(
    write_release: WriteRelease, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = release_module.compile_template

    def counting(source: str) -> object:
        calls.append(source)
        return real(source)

    monkeypatch.setattr(release_module, "compile_template", counting)
    release = _load(write_release)
    assert calls == []  # lazily, not at load
    for _ in range(5):
        release.render({"name": "A"}, "x")
    assert len(calls) == 2  # system + user, once


def test_base_request_fills_model_params_tools_and_format(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML.replace("  max_tokens: 100", (
        "  max_tokens: 100\n  top_p: 0.9\n  stop: END\n  seed: 4\n  presence_penalty: 0.5"
    )) + (
        "tools:\n  - {type: function, function: {name: f, description: d, parameters: "
        "{type: object, properties: {a: {type: integer}}}}}\n"
        "response_format: {type: json_schema, json_schema: {name: o, strict: true, schema: "
        "{type: object}}}\n"
    )
    release = _load(write_release, yaml_text)
    messages = release.render({"name": "A"}, "x")
    request = release.base_request(messages)
    assert (request.model, request.temperature, request.max_tokens, request.top_p) == (
        "sim-large", 0.2, 100, 0.9)
    assert request.stop == ["END"] and request.seed == 4 and request.messages is messages
    assert request.extra == {"presence_penalty": 0.5}
    assert request.tools == [{"type": "function", "function": {
        "name": "f", "description": "d",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}]
    assert request.response_format == {"type": "json_schema", "json_schema": {
        "name": "o", "strict": True, "schema": {"type": "object"}}}
    assert request.tools is not None
    request.tools[0]["function"]["name"] = "mutated"
    again = release.base_request(messages)
    assert again.tools is not None and again.tools[0]["function"]["name"] == "f"


def test_models_lists_primary_then_fallbacks(write_release: WriteRelease) -> None:
    release = _load(write_release, BASE_YAML + "fallbacks: [sim-small, other/gpt-x]\n")
    assert release.models == [("sim", "sim-large"), ("sim", "sim-small"), ("other", "gpt-x")]
    assert release.spec.fallbacks == ["sim/sim-small", "other/gpt-x"]


def test_passthrough_release_supplies_only_model_and_params(write_release: WriteRelease) -> None:
    release = _load(write_release, "provider: sim\nmodel: sim-small\nmode: passthrough\n"
                    "params: {temperature: 0}\n", files={})
    with pytest.raises(ReleaseError, match="passthrough"):
        release.render({}, "x")
    app_messages = [Message("user", "as-is")]
    request = release.base_request(app_messages)
    assert request.messages == app_messages and request.temperature == 0.0
