"""Every kind of bad release input fails with one ReleaseError naming the file (and line)."""

from __future__ import annotations

import re

import pytest
from release_helpers import BASE_FILES, BASE_YAML, WriteRelease

from rampway.errors import ReleaseError
from rampway.release import load_release


def _error(write_release: WriteRelease, yaml_text: str = BASE_YAML,
           files: dict[str, str] | None = None) -> ReleaseError:
    directory = write_release("bot", yaml_text, BASE_FILES if files is None else files)
    with pytest.raises(ReleaseError) as info:
        load_release(directory)
    message = info.value.message
    assert "\n" not in message
    return info.value


def _where(err: ReleaseError) -> tuple[str, int | None]:
    assert err.file is not None
    return err.file.replace("\\", "/"), err.line


def test_malformed_yaml_names_file_and_line(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "tools: [unclosed\n")
    file, line = _where(err)
    assert file.endswith("bot/release.yaml") and line is not None and line >= 13
    assert "malformed YAML" in err.message
    assert re.search(r"release\.yaml:\d+: malformed YAML", err.message)


def test_unknown_key_names_its_line(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML.replace("  max_tokens: 100", "  max_tokenz: 100"))
    assert _where(err)[1] == 6
    assert "params.max_tokenz: unknown key" in err.message


def test_wrong_type_names_field_and_line(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML.replace("temperature: 0.2", "temperature: hot"))
    assert _where(err)[1] == 5 and "params.temperature" in err.message


def test_out_of_range_parameter(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML.replace("temperature: 0.2", "temperature: 3"))
    assert "params.temperature" in err.message and _where(err)[1] == 5


def test_missing_required_key(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML.replace("model: sim-large\n", ""))
    assert "model: required key is missing" in err.message


def test_duplicate_key_is_an_error(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "model: sim-small\n")
    assert "duplicate key 'model'" in err.message and _where(err)[1] == 13


def test_top_level_must_be_a_mapping(write_release: WriteRelease) -> None:
    assert "mapping" in _error(write_release, "- a\n- b\n").message


def test_missing_release_yaml(write_release: WriteRelease) -> None:
    directory = write_release("bot")
    (directory / "release.yaml").unlink()
    with pytest.raises(ReleaseError, match=r"release\.yaml.*not found"):
        load_release(directory)


def test_missing_prompt_file_names_it_and_the_referring_line(write_release: WriteRelease) -> None:
    err = _error(write_release, files={"prompts/user.j2": "{{ input }}"})
    assert "prompt file not found" in err.message and "prompts/system.md" in err.message
    assert _where(err) [1] == 8  # the messages.system line


def test_prompt_path_must_stay_inside_the_release(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML.replace("prompts/system.md", "../secrets.md"))
    assert "inside the release directory" in err.message


def test_undeclared_variable_names_template_file_and_line(write_release: WriteRelease) -> None:
    files = {**BASE_FILES, "prompts/system.md": "You help {{ name }}.\nPlan: {{ plan }}\n"}
    err = _error(write_release, files=files)
    file, line = _where(err)
    assert file.endswith("prompts/system.md") and line == 2
    assert "'plan' is not declared" in err.message


def test_unused_declared_variable_names_its_line(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML + "  locale:\n    description: unused\n"
    err = _error(write_release, yaml_text)
    file, line = _where(err)
    assert file.endswith("release.yaml") and line == 13
    assert "variables.locale: declared but not used" in err.message


def test_input_is_reserved(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "  input: {}\n")
    assert "reserved" in err.message


def test_template_syntax_error_names_file_and_line(write_release: WriteRelease) -> None:
    files = {**BASE_FILES, "prompts/system.md": "You help {{ name }}.\n{% if name %}\nno end\n"}
    err = _error(write_release, files=files)
    file, line = _where(err)
    assert file.endswith("prompts/system.md") and line is not None
    assert "template syntax error" in err.message


def test_inline_user_template_errors_point_into_release_yaml(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML.replace("user: prompts/user.j2", 'user: "{{ input }} {{ extra }}"')
    err = _error(write_release, yaml_text)
    file, line = _where(err)
    assert file.endswith("release.yaml") and line == 9 and "'extra'" in err.message


TOOL = """\
tools:
  - type: function
    function:
      name: lookup
      parameters:
        type: {kind}
        properties: {{order_id: {{type: string}}}}
"""


def test_invalid_tool_json_schema(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + TOOL.format(kind="objekt"))
    assert "tools[0].function.parameters" in err.message
    assert "not a valid JSON Schema" in err.message
    assert _where(err)[1] == 17


def test_tool_parameters_must_be_an_object_schema(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + TOOL.format(kind="string"))
    assert '"type": "object"' in err.message


def test_tool_must_be_a_function_tool(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + TOOL.format(kind="object").replace(
        "type: function", "type: retrieval"))
    assert "tools[0].type" in err.message


def test_duplicate_tool_names(write_release: WriteRelease) -> None:
    tool = TOOL.format(kind="object")
    twice = tool + tool[len("tools:\n"):]
    assert "duplicate tool name 'lookup'" in _error(write_release, BASE_YAML + twice).message


def test_invalid_response_json_schema(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML + (
        "response_format:\n  type: json_schema\n  json_schema:\n    name: out\n"
        "    schema: {type: object, required: yes-please}\n"
    )
    err = _error(write_release, yaml_text)
    assert "response_format.json_schema.schema" in err.message
    assert "not a valid JSON Schema" in err.message and _where(err)[1] == 17


def test_unknown_response_format_type(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "response_format: {type: xml}\n")
    assert "response_format" in err.message and _where(err)[1] == 13


def test_nan_in_a_schema_is_refused(write_release: WriteRelease) -> None:
    yaml_text = BASE_YAML + (
        "response_format:\n  type: json_schema\n  json_schema:\n    name: out\n"
        "    schema: {type: number, maximum: .nan}\n"
    )
    assert "NaN" in _error(write_release, yaml_text).message


def test_fallback_repeating_the_primary(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "fallbacks: [sim-large]\n")
    assert "repeat the primary" in err.message


def test_bad_fallback_form(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "fallbacks: ['/x']\n")
    assert "fallbacks" in err.message


def test_passthrough_release_may_not_carry_messages(write_release: WriteRelease) -> None:
    err = _error(write_release, BASE_YAML + "mode: passthrough\n")
    assert "passthrough" in err.message


def test_managed_release_needs_a_template(write_release: WriteRelease) -> None:
    err = _error(write_release, "provider: sim\nmodel: m\n", files={})
    assert "messages.system or messages.user" in err.message


def test_invalid_feature_name(write_release: WriteRelease) -> None:
    with pytest.raises(ReleaseError, match="invalid feature name"):
        load_release(write_release("bot"), feature="has space")


def test_non_utf8_prompt(write_release: WriteRelease) -> None:
    directory = write_release("bot")
    (directory / "prompts/system.md").write_bytes(b"caf\xe9 {{ name }}")
    with pytest.raises(ReleaseError, match="not UTF-8"):
        load_release(directory)
