"""FlagStore on SQLite and PostgreSQL: versions, audit, whole-set validation, push precedence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rampway.errors import ConflictError, FlagError, RefError
from rampway.flags import Reason
from rampway.flags.store import FlagStore, discover_flag_files, read_flag_files
from rampway.store import Store

DIGEST = "ab" * 32
RELEASE_ID = f"bot@{DIGEST[:8]}"


def _bool(default: bool, **extra: Any) -> dict[str, Any]:
    return {"type": "bool", "default": default, **extra}


@pytest.fixture
def flags(store: Store) -> FlagStore:
    return FlagStore(store)


def test_put_creates_then_updates_with_versions_audit_and_control_bump(
    flags: FlagStore, store: Store
) -> None:
    v0 = store.control_version()
    rec = flags.put("flag", "bot.enabled", _bool(True), actor="ana", reason="add switch")
    assert (rec.version, rec.source, rec.updated_by) == (1, "api", "ana")
    rec2 = flags.put(
        "flag", "bot.enabled", _bool(False), actor="bo", reason="incident", expected_version=1
    )
    assert rec2.version == 2
    assert store.control_version() == v0 + 2
    assert flags.get("flag", "bot.enabled") == rec2
    entries = store.list_audit(object_type="flag", object_id="bot.enabled")
    assert [e.action for e in entries] == ["flag.update", "flag.create"]
    assert entries[0].before["definition"]["default"] is True
    assert entries[0].after["definition"]["default"] is False
    assert (entries[0].actor, entries[0].reason) == ("bo", "incident")
    assert flags.flagset().evaluate("bot.enabled", {}).value is False


def test_stale_expected_version_is_a_conflict_and_writes_nothing(
    flags: FlagStore, store: Store
) -> None:
    flags.put("flag", "f", _bool(True), actor="a", reason="r")
    flags.put("flag", "f", _bool(False), actor="a", reason="r", expected_version=1)
    before = store.control_version()
    with pytest.raises(ConflictError, match="version 2, not 1"):
        flags.put("flag", "f", _bool(True), actor="a", reason="r", expected_version=1)
    with pytest.raises(ConflictError):
        flags.put("flag", "new", _bool(True), actor="a", reason="r", expected_version=3)
    with pytest.raises(ConflictError):
        flags.delete("flag", "f", actor="a", reason="r", expected_version=1)
    assert flags.get("flag", "f").version == 2  # type: ignore[union-attr]
    assert flags.get("flag", "new") is None
    assert store.control_version() == before
    assert len(store.list_audit(object_type="flag")) == 2


BROKEN: list[tuple[dict[str, Any], str]] = [
        ({"type": "bool", "default": True, "rules": [{"condition": {"x": {"$regex": "("}},
                                                       "value": False}]}, "regex"),
        ({"type": "bool", "default": True, "rules": [{"condition": {"x": {"$nope": 1}},
                                                       "value": False}]}, "nope"),
        ({"type": "bool", "default": "yes"}, "not of the flag's type"),
        ({"type": "string", "default": "a", "rules": [{"variations": [
            {"value": "a", "weight": 60}, {"value": "b", "weight": 60}]}]}, "more than 100%"),
        ({"type": "bool", "default": True, "rules": [{"segment": "missing", "value": False}]},
         "unknown segment"),
        ({"type": "bool", "default": True, "conditon": {}}, "unknown key"),
        ({"type": "number", "default": float("nan")}, "not plain JSON"),
]


def test_broken_definition_is_refused_and_previous_keeps_serving(
    flags: FlagStore, store: Store
) -> None:
    flags.put("flag", "f", _bool(True), actor="a", reason="r")
    version = store.control_version()
    for definition, message in BROKEN:
        with pytest.raises(FlagError, match=message):
            flags.put("flag", "f", definition, actor="a", reason="r")
    assert flags.get("flag", "f").definition == _bool(True)  # type: ignore[union-attr]
    assert flags.flagset().evaluate("f", {}).value is True
    assert store.control_version() == version
    assert len(store.list_audit(object_type="flag")) == 1


def test_native_flags_are_checked_when_written(flags: FlagStore, store: Store) -> None:
    with pytest.raises(FlagError, match="must be of type bool"):
        flags.put("flag", "bot.enabled", {"type": "string", "default": "x"}, actor="a", reason="t")
    with pytest.raises(FlagError, match="positive integer"):
        flags.put("flag", "bot.max_tokens", {"type": "number", "default": 0}, actor="a", reason="t")
    with pytest.raises(FlagError, match="positive integer"):
        flags.put("flag", "bot.max_tokens", {"type": "number", "default": 100,
                  "rules": [{"value": 2.5}]}, actor="a", reason="test")
    with pytest.raises(FlagError, match="not of 'bot'"):
        flags.put("flag", "bot.release", {"type": "string", "default": "other@abcd1234"},
                  actor="a", reason="test")
    with pytest.raises(FlagError, match="no such release"):
        flags.put("flag", "bot.release", {"type": "string", "default": RELEASE_ID},
                  actor="a", reason="test")
    with pytest.raises(FlagError, match="no such channel"):
        flags.put("flag", "bot.release", {"type": "string", "default": "candidate"},
                  actor="a", reason="test")
    store.publish("bot", DIGEST, RELEASE_ID, "{}", actor="a", reason="test")
    store.set_channel("bot", "candidate", RELEASE_ID, actor="a", reason="test")
    flags.put("flag", "bot.release", {"type": "string", "default": "candidate",
              "rules": [{"condition": {"plan": "pro"}, "value": RELEASE_ID}]},
              actor="a", reason="test")
    flags.put("flag", "bot.model", {"type": "string", "default": "sim/sim-small"},
              actor="a", reason="test")


def test_segments_are_shared_and_a_used_segment_cannot_be_deleted(flags: FlagStore) -> None:
    flags.put("segment", "beta", {"ids": ["u1", "u2"]}, actor="a", reason="test")
    flags.put("flag", "f", _bool(False, rules=[{"segment": "beta", "value": True}]),
              actor="a", reason="test")
    fs = flags.flagset()
    assert fs.evaluate("f", {}, "u1").reason is Reason.TARGETING_MATCH
    assert fs.evaluate("f", {}, "u9").value is False
    with pytest.raises(FlagError, match="unknown segment"):
        flags.delete("segment", "beta", actor="a", reason="test")
    assert flags.get("segment", "beta") is not None
    flags.delete("flag", "f", actor="a", reason="cleanup")
    gone = flags.delete("segment", "beta", actor="a", reason="cleanup")
    assert gone.key == "beta" and flags.list("segment") == []
    with pytest.raises(RefError):
        flags.delete("segment", "beta", actor="a", reason="test")


def test_bad_keys_and_non_json_definitions_are_refused(flags: FlagStore) -> None:
    with pytest.raises(FlagError, match="key"):
        flags.put("flag", "bad key!", _bool(True), actor="a", reason="test")
    with pytest.raises(FlagError, match="JSON object"):
        flags.put("flag", "f", ["not", "a", "mapping"], actor="a", reason="test")


def test_flagset_is_cached_until_a_version_changes(flags: FlagStore) -> None:
    flags.put("flag", "f", _bool(True), actor="a", reason="test")
    first = flags.flagset()
    assert flags.flagset() is first
    flags.put("flag", "f", _bool(False), actor="a", reason="test")
    assert flags.flagset() is not first


# -- push (repo files → store) --------------------------------------------------------------------


def _write(root: Path, name: str, doc: dict[str, Any]) -> Path:
    path = root / "flags" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_push_creates_updates_deletes_file_flags_and_leaves_api_flags(
    flags: FlagStore, store: Store, tmp_path: Path
) -> None:
    flags.put("flag", "api-only", _bool(True), actor="ana", reason="made in the API")
    _write(tmp_path, "a.yaml", {"flags": {"f1": _bool(True), "f2": _bool(False)},
                                "segments": {"beta": {"ids": ["u1"]}}})
    report = flags.push(read_flag_files(discover_flag_files(tmp_path)), actor="ci", reason="push")
    assert sorted(report.created) == ["flag:f1", "flag:f2", "segment:beta"]
    rec = flags.get("flag", "f1")
    assert rec is not None and rec.source == "file" and rec.file.endswith("a.yaml")  # type: ignore[union-attr]

    _write(tmp_path, "a.yaml", {"flags": {"f1": _bool(False)}})
    report = flags.push(read_flag_files(discover_flag_files(tmp_path)), actor="ci", reason="push")
    assert report.updated == ["flag:f1"]
    assert sorted(report.deleted) == ["flag:f2", "segment:beta"]
    assert flags.get("flag", "api-only") is not None
    again = flags.push(read_flag_files(discover_flag_files(tmp_path)), actor="ci", reason="push")
    assert not again.changed and again.unchanged == ["flag:f1"]


def test_push_refuses_to_overwrite_an_api_edit_unless_forced(
    flags: FlagStore, store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path, "a.yaml", {"flags": {"bot.enabled": _bool(True)}})
    flags.push(read_flag_files([path]), actor="ci", reason="test")
    flags.put("flag", "bot.enabled", _bool(False), actor="oncall", reason="incident")
    version = store.control_version()
    with pytest.raises(ConflictError, match="flag:bot.enabled"):
        flags.push(read_flag_files([path]), actor="ci", reason="test")
    assert flags.flagset().evaluate("bot.enabled", {}).value is False
    assert store.control_version() == version
    report = flags.push(read_flag_files([path]), actor="ci", reason="test", force=True)
    assert report.overwritten == ["flag:bot.enabled"] and report.updated == ["flag:bot.enabled"]
    assert flags.get("flag", "bot.enabled").source == "file"  # type: ignore[union-attr]


def test_push_dry_run_writes_nothing(flags: FlagStore, store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", {"flags": {"f": _bool(True)}})
    version = store.control_version()
    report = flags.push(read_flag_files([path]), actor="ci", reason="test", dry_run=True)
    assert report.created == ["flag:f"] and report.dry_run
    assert flags.list("flag") == [] and store.control_version() == version


def test_push_of_a_broken_file_names_file_and_line_and_changes_nothing(
    flags: FlagStore, tmp_path: Path
) -> None:
    good = _write(tmp_path, "a.yaml", {"flags": {"f": _bool(True)}})
    flags.push(read_flag_files([good]), actor="ci", reason="test")
    bad = tmp_path / "flags" / "b.yaml"
    bad.write_text("flags:\n  g:\n    type: bool\n    default: true\n    rules:\n"
                   "      - condition: {plan: {$regex: '('}}\n        value: false\n")
    with pytest.raises(FlagError, match=r"b\.yaml:6"):
        read_flag_files([good, bad])
    assert [r.key for r in flags.list("flag")] == ["f"]


def test_push_checks_the_whole_resulting_set(flags: FlagStore, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", {"segments": {"beta": {"ids": ["u1"]}}})
    flags.push(read_flag_files([path]), actor="ci", reason="test")
    flags.put("flag", "uses-beta", _bool(False, rules=[{"segment": "beta", "value": True}]),
              actor="a", reason="test")
    path.write_text(yaml.safe_dump({"flags": {}}))
    with pytest.raises(FlagError, match="unknown segment 'beta'"):
        flags.push(read_flag_files([path]), actor="ci", reason="test")
    assert flags.get("segment", "beta") is not None
