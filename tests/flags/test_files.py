"""Loading flags/*.yaml: shared segments across files, and file:line on every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.flags import FlagError, Reason, load_flag_files

SEGMENTS_YAML = """\
segments:
  beta:
    ids: [u-1, u-2]
  paid:
    condition: {plan: {$in: [pro, team]}}
"""

FLAGS_YAML = """\
flags:
  bot.model:
    type: string
    default: mini
    rules:
      - segment: beta
        value: large
      - condition:
          plan: free
          request.estimated_tokens: {$gt: 4000}
        value: small
  bot.enabled:
    type: bool
    default: true
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_several_files_with_shared_segments(tmp_path: Path) -> None:
    fs = load_flag_files(
        [write(tmp_path, "a.yaml", SEGMENTS_YAML), write(tmp_path, "b.yaml", FLAGS_YAML)]
    )
    assert len(fs) == 2 and "bot.enabled" in fs
    assert fs.evaluate("bot.model", {}, "u-1").value == "large"
    ev = fs.evaluate("bot.model", {"plan": "free", "request": {"estimated_tokens": 5000}}, "x")
    assert (ev.value, ev.reason, ev.rule_index) == ("small", Reason.TARGETING_MATCH, 1)
    assert fs.evaluate("bot.enabled", {}).reason is Reason.STATIC


def error_of(tmp_path: Path, *texts: str) -> FlagError:
    paths = [write(tmp_path, f"f{i}.yaml", t) for i, t in enumerate(texts)]
    with pytest.raises(FlagError) as info:
        load_flag_files(paths)
    return info.value


def test_bad_operator_points_at_its_line(tmp_path: Path) -> None:
    text = FLAGS_YAML.replace("{$gt: 4000}", "{$gtt: 4000}")
    err = error_of(tmp_path, SEGMENTS_YAML, text)
    assert (err.file, err.line) == (str(tmp_path / "f1.yaml"), 10)
    assert str(err).startswith(f"{tmp_path / 'f1.yaml'}:10: flag 'bot.model' rule 1")
    assert "unknown operator '$gtt'" in str(err)


def test_bad_rule_value_points_at_its_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, SEGMENTS_YAML, FLAGS_YAML.replace("value: small", "value: 3"))
    assert err.line == 11 and "not of the flag's type string" in str(err)


def test_unknown_segment_points_at_the_rule(tmp_path: Path) -> None:
    err = error_of(tmp_path, FLAGS_YAML)
    assert err.line == 6 and "unknown segment 'beta'" in str(err)


def test_bad_segment_condition_points_at_its_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, SEGMENTS_YAML.replace("[pro, team]", "pro"))
    assert err.line == 5 and "$in needs a list" in str(err)


def test_duplicate_flag_across_files_names_both(tmp_path: Path) -> None:
    err = error_of(tmp_path, SEGMENTS_YAML + FLAGS_YAML, FLAGS_YAML)
    assert err.file == str(tmp_path / "f1.yaml") and err.line == 2
    assert f"first defined at {tmp_path / 'f0.yaml'}:7" in str(err)


def test_duplicate_yaml_key_and_malformed_yaml(tmp_path: Path) -> None:
    err = error_of(tmp_path, "flags:\n  a: {type: bool, default: true}\n  a: {type: bool}\n")
    assert "duplicate key 'a'" in str(err) and ":3:" in str(err)
    err = error_of(tmp_path, "flags: [unclosed\n")
    assert "malformed YAML" in str(err)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = error_of(tmp_path, "flagz: {}\n")
    assert "unknown key 'flagz'" in str(err) and str(tmp_path / "f0.yaml") in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match="cannot read flag file"):
        load_flag_files([tmp_path / "absent.yaml"])


def test_empty_file_is_no_flags(tmp_path: Path) -> None:
    assert len(load_flag_files([write(tmp_path, "empty.yaml", "")])) == 0
