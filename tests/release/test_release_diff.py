"""diff_releases: prompt text as unified diffs, other changes field by field."""

from __future__ import annotations

import json

from release_helpers import BASE_FILES, BASE_YAML, WriteRelease

from rampway.release import diff_releases, load_release

TOOLS = """\
tools:
- {type: function, function: {name: a, parameters: {type: object, properties: {x: {type: string}}}}}
- {type: function, function: {name: b}}
"""


def test_identical_releases_have_no_changes(write_release: WriteRelease) -> None:
    release = load_release(write_release("bot"))
    diff = diff_releases(release, release)
    assert diff.identical and diff.fields == () and diff.files == ()
    assert "no changes" in diff.render()


def test_model_params_and_prompt_changes(write_release: WriteRelease) -> None:
    old = load_release(write_release("bot"))
    files = {**BASE_FILES, "prompts/system.md": "You help {{ name }}.\nBe very brief.\n"}
    yaml_text = BASE_YAML.replace("sim-large", "sim-small").replace("0.2", "0.5")
    new = load_release(write_release("new", yaml_text + "fallbacks: [sim-large]\n", files),
                       feature="bot")
    diff = diff_releases(old, new)
    by_path = {f.path: f for f in diff.fields}
    assert (by_path["model"].kind, by_path["model"].before, by_path["model"].after) == (
        "changed", "sim-large", "sim-small")
    assert by_path["params.temperature"].after == 0.5
    assert by_path["fallbacks"].kind == "added"
    assert set(by_path) == {"model", "params.temperature", "fallbacks"}
    [change] = diff.files
    assert change.path == "prompts/system.md" and change.status == "modified"
    assert "-Be brief.\n+Be very brief.\n" in change.diff
    assert change.diff.startswith(f"--- {old.id}/prompts/system.md\n+++ {new.id}/prompts/system.md")
    text = diff.render()
    assert '~ model: "sim-large" → "sim-small"' in text and "+Be very brief." in text


def test_tools_are_matched_by_name(write_release: WriteRelease) -> None:
    old = load_release(write_release("bot", BASE_YAML + TOOLS))
    reordered = TOOLS.replace("{type: string}", "{type: integer}").splitlines()
    changed = "\n".join([reordered[0], reordered[2]]) + "\n- {type: function, function: " \
        "{name: c}}\n" + reordered[1] + "\n"
    new = load_release(write_release("new", BASE_YAML + changed), feature="bot")
    by_path = {f.path: f for f in diff_releases(old, new).fields}
    assert set(by_path) == {"tools[a].function.parameters.properties.x.type", "tools[c]"}
    assert by_path["tools[c]"].kind == "added"
    assert by_path["tools[c]"].after == {"type": "function", "function": {"name": "c"}}


def test_added_and_removed_files(write_release: WriteRelease) -> None:
    old = load_release(write_release("bot"))
    inline = BASE_YAML.replace("user: prompts/user.j2", 'user: "{{ input }}"')
    new = load_release(write_release("new", inline, {"prompts/system.md":
                                                     BASE_FILES["prompts/system.md"]}),
                       feature="bot")
    diff = diff_releases(old, new)
    [removed] = diff.files
    assert removed.status == "removed" and "+++ /dev/null" in removed.diff
    reverse = diff_releases(new, old)
    assert reverse.files[0].status == "added"


def test_to_json_is_serializable(write_release: WriteRelease) -> None:
    old = load_release(write_release("bot"))
    new = load_release(write_release("new", BASE_YAML + TOOLS), feature="bot")
    doc = json.loads(json.dumps(diff_releases(old, new).to_json()))
    assert doc["a"] == old.id and doc["b"] == new.id and doc["identical"] is False
    assert {f["path"] for f in doc["fields"]} == {"tools[a]", "tools[b]"}
