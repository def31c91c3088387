"""Identity: same content → same id anywhere; any meaningful change → a new id."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from release_helpers import BASE_FILES, BASE_YAML, WriteRelease

from rampway.errors import ReleaseError
from rampway.release import Release, load_release


def test_id_is_feature_and_short_sha256_of_canonical(write_release: WriteRelease) -> None:
    release = load_release(write_release("bot"))
    assert release.digest == hashlib.sha256(release.canonical.encode()).hexdigest()
    assert release.id == f"bot@{release.digest[:8]}"
    payload = json.loads(release.canonical)
    assert payload["files"] == {k: v for k, v in BASE_FILES.items()}
    assert payload["spec"]["model"] == "sim-large"
    assert release.canonical == json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False)


def test_same_content_in_different_directories_gives_same_id(tmp_path: Path) -> None:
    from release_helpers import write_release_dir

    a = load_release(write_release_dir(tmp_path / "x" / "bot"))
    b = load_release(write_release_dir(tmp_path / "deep" / "er" / "elsewhere"), feature="bot")
    assert a.id == b.id and a.canonical == b.canonical


def test_id_is_stable_across_processes(write_release: WriteRelease) -> None:
    directory = write_release("bot")
    here = load_release(directory)
    code = (
        "import sys; from pathlib import Path; from rampway.release import load_release; "
        "print(load_release(Path(sys.argv[1])).id)"
    )
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True,
                             text=True, check=True, env={"PYTHONHASHSEED": "random"})
        assert out.stdout.strip() == here.id


def test_crlf_and_bom_do_not_change_the_id(write_release: WriteRelease) -> None:
    plain = load_release(write_release("bot"))
    crlf_files = {k: v.replace("\n", "\r\n") for k, v in BASE_FILES.items()}
    crlf = write_release("crlf", BASE_YAML.replace("\n", "\r\n"), crlf_files)
    (crlf / "prompts/system.md").write_bytes(b"\xef\xbb\xbf" + crlf_files["prompts/system.md"]
                                             .encode())
    assert load_release(crlf, feature="bot").id == plain.id


def test_yaml_formatting_comments_order_and_explicit_defaults_do_not_change_the_id(
    write_release: WriteRelease,
) -> None:
    plain = load_release(write_release("bot"))
    reformatted = """\
variables: {name: {description: who we talk to, required: true}}
messages: {user: ./prompts/user.j2, system: prompts//system.md, few_shot: []}
params: {max_tokens: 100, temperature: 0.20}   # same numbers
model: sim-large
provider: sim
traffic_class: chat
mode: managed
tools: []
fallbacks: []
"""
    assert load_release(write_release("re", reformatted), feature="bot").id == plain.id


CHANGES = {
    "prompt text": ("prompts/system.md", "You help {{ name }}.\nBe very brief.\n"),
    "user template": ("prompts/user.j2", "Q: {{ input }}\n"),
    "model": ("model: sim-large", "model: sim-large-2"),
    "provider": ("provider: sim", "provider: other"),
    "temperature": ("temperature: 0.2", "temperature: 0.3"),
    "max_tokens": ("max_tokens: 100", "max_tokens: 101"),
    "new param": ("max_tokens: 100", "max_tokens: 100\n  seed: 3"),
    "tools": ("messages:", "tools:\n  - {type: function, function: {name: f, parameters: "
              "{type: object, properties: {}}}}\nmessages:"),
    "tools from app": ("messages:", "tools_from_app: merge\nmessages:"),
    "response format": ("messages:", "response_format: {type: json_object}\nmessages:"),
    "fallbacks": ("messages:", "fallbacks: [sim-small]\nmessages:"),
    "few-shot": ("  user: prompts/user.j2", "  user: prompts/user.j2\n  few_shot: "
                 "[{user: hi, assistant: hello}]"),
    "traffic class": ("messages:", "traffic_class: batch\nmessages:"),
    "variable optional": ("description: who we talk to",
                          "description: who we talk to\n    required: false"),
    "owner": ("messages:", "owner: team@example.com\nmessages:"),
}


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_each_kind_of_change_gives_a_new_id(write_release: WriteRelease, kind: str) -> None:
    base = load_release(write_release("bot"))
    old, new = CHANGES[kind]
    files = dict(BASE_FILES)
    yaml_text = BASE_YAML
    if old in files:
        files[old] = new
    else:
        assert old in yaml_text
        yaml_text = yaml_text.replace(old, new, 1)
    changed = load_release(write_release("changed", yaml_text, files), feature="bot")
    assert changed.id != base.id


def test_feature_name_is_part_of_identity(write_release: WriteRelease) -> None:
    directory = write_release("bot")
    assert load_release(directory).digest != load_release(directory, feature="bot2").digest


def test_from_canonical_round_trips(write_release: WriteRelease) -> None:
    release = load_release(write_release("bot"))
    again = Release.from_canonical(release.canonical)
    assert again.id == release.id and again.canonical == release.canonical
    assert again == release and hash(again) == hash(release)
    assert again.render({"name": "Ada"}, "hi") == release.render({"name": "Ada"}, "hi")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "not json",
        lambda d: json.dumps({**d, "format": 99}),
        lambda d: json.dumps({k: v for k, v in d.items() if k != "files"}),
        lambda d: json.dumps({**d, "files": {}}),  # the prompt files are gone
        lambda d: json.dumps({**d, "spec": {**d["spec"], "model": ""}}),
        lambda d: json.dumps({**d, "feature": "no spaces allowed"}),
    ],
)
def test_from_canonical_rejects_damaged_text(write_release: WriteRelease, mutate: object) -> None:
    release = load_release(write_release("bot"))
    text = mutate(json.loads(release.canonical))  # type: ignore[operator]
    with pytest.raises(ReleaseError):
        Release.from_canonical(text)


def test_release_is_immutable(write_release: WriteRelease) -> None:
    release = load_release(write_release("bot"))
    with pytest.raises(AttributeError):
        release.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        release.files["prompts/system.md"] = "x"  # type: ignore[index]
    with pytest.raises(Exception, match="frozen"):
        release.spec.model = "x"  # type: ignore[misc]
