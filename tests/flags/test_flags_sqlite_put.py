"""The light `flags set` road (stdlib sqlite3) writes exactly what `FlagStore.put` writes.

Each scenario is applied to two stores: one through `FlagStore.put` (SQLAlchemy), one through
`put_if_plain`; every row of the definition tables, the audit log and the control state must
then be equal (timestamps compared by format, not value), and every refusal must be the same
exception with the same words, with nothing written on either side.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rampway.errors import ConfigError, ConflictError, FlagError, RampwayError, ReasonRequired
from rampway.flags._sqlite_put import put_if_plain, sqlite_path
from rampway.flags.store import FlagStore
from rampway.store import Store

DIGEST = "cd" * 32
RELEASE_ID = f"bot@{DIGEST[:8]}"
TABLES = ("flag_definitions", "segment_definitions", "audit_log", "control_state")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")

Put = Callable[..., Any]


def _stores(tmp_path: Path) -> tuple[Path, Path]:
    """Two migrated SQLite stores with the same release, channel and `.release` flag."""
    paths = tmp_path / "main.db", tmp_path / "light.db"
    for path in paths:
        store = Store.open(f"sqlite:///{path}")
        store.publish("bot", DIGEST, RELEASE_ID, "{}", actor="a", reason="setup")
        store.set_channel("bot", "production", RELEASE_ID, actor="a", reason="setup")
        FlagStore(store).put("flag", "bot.release", {"type": "string", "default": "production"},
                             actor="a", reason="setup")
        store.close()
    return paths


def _main_road(path: Path) -> Put:
    def put(kind: Any, key: str, definition: Any, **kw: Any) -> Any:
        store = Store.open(f"sqlite:///{path}")
        try:
            return FlagStore(store).put(kind, key, definition, **kw)
        finally:
            store.close()
    return put


def _light_road(path: Path) -> Put:
    def put(kind: Any, key: str, definition: Any, **kw: Any) -> Any:
        record = put_if_plain(path, kind, key, definition, actor=kw["actor"],
                              reason=kw["reason"], expected_version=kw.get("expected_version"),
                              routing=lambda: None)
        assert record is not None, "the light road declined a plain write"
        return record
    return put


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the compared tables, timestamps checked for format and then masked."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in TABLES:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
            masked = []
            for row in rows:
                cells = []
                for cell in row:
                    if isinstance(cell, str) and _STAMP.fullmatch(cell):
                        cell = "<timestamp>"
                    cells.append(cell)
                masked.append(tuple(cells))
            out[table] = masked
        return out
    finally:
        conn.close()


WRITES: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("flag", "ops.kill", {"type": "bool", "default": False}, {"reason": "add"}),
    ("flag", "ops.kill", {"type": "bool", "default": True}, {"reason": "incident",
                                                            "expected_version": 1}),
    ("segment", "beta", {"conditions": [{"attribute": "plan", "op": "in",
                                         "values": ["pro"]}]}, {"reason": "seg"}),
    ("flag", "bot.enabled", {"type": "bool", "default": True,
                             "rules": [{"segment": "beta", "value": False}]}, {"reason": "r"}),
    ("flag", "bot.max_tokens", {"type": "number", "default": 256}, {"reason": "cap"}),
    ("flag", "new.one", {"type": "string", "default": "x"}, {"reason": "new",
                                                            "expected_version": 0}),
]

REFUSED: list[tuple[str, str, Any, dict[str, Any], type[RampwayError]]] = [
    ("flag", "ops.kill", {"type": "bool", "default": "no"}, {"reason": "r"}, FlagError),
    ("flag", "ops.kill", {"type": "bool", "default": False},
     {"reason": "r", "expected_version": 1}, ConflictError),
    ("flag", "ops.kill", {"type": "bool", "default": False}, {"reason": "  "}, ReasonRequired),
    ("flag", "bot.enabled", {"type": "bool", "default": True,
                             "rules": [{"segment": "nope", "value": False}]}, {"reason": "r"},
     FlagError),
    ("flag", "bot.max_tokens", {"type": "number", "default": -3}, {"reason": "r"}, FlagError),
    ("flag", "bad key!", {"type": "bool", "default": True}, {"reason": "r"}, FlagError),
    ("flag", "ops.kill", [1, 2], {"reason": "r"}, FlagError),
    ("segment", "beta", {"conditions": "x"}, {"reason": "r"}, FlagError),
]


def _outcome(put: Put, kind: str, key: str, definition: Any, kw: dict[str, Any],
             actor: str = "ana") -> Any:
    try:
        return put(kind, key, definition, actor=actor, **kw).to_json() | {"updated_at": "-"}
    except RampwayError as exc:
        return type(exc), str(exc)


def test_both_roads_write_the_same_rows_and_refuse_the_same_writes(tmp_path: Path) -> None:
    main, light = _stores(tmp_path)
    for kind, key, definition, kw in WRITES:
        assert (_outcome(_main_road(main), kind, key, definition, kw)
                == _outcome(_light_road(light), kind, key, definition, kw)), key
        assert _rows(main) == _rows(light), key
    for kind, key, definition, kw, error in REFUSED:
        before = _rows(light)
        refused = _outcome(_main_road(main), kind, key, definition, kw)
        assert refused[0] is error, (key, refused)
        assert _outcome(_light_road(light), kind, key, definition, kw) == refused, key
        assert _rows(main) == _rows(light) == before, key
    invalid_actor = _outcome(_main_road(main), "flag", "ops.kill",
                             {"type": "bool", "default": False}, {"reason": "r"}, actor=" ")
    assert invalid_actor[0] is ConfigError
    assert _outcome(_light_road(light), "flag", "ops.kill", {"type": "bool", "default": False},
                    {"reason": "r"}, actor=" ") == invalid_actor
    assert _rows(main) == _rows(light)


def test_a_stale_release_pin_refuses_every_write_on_both_roads(tmp_path: Path) -> None:
    """The whole set is validated against the store (`Lookups`): a `.release` flag pinning a
    channel that no longer exists blocks an unrelated write, on either road alike."""
    main, light = _stores(tmp_path)
    for path in (main, light):
        conn = sqlite3.connect(path)
        conn.execute("UPDATE flag_definitions SET definition = ? WHERE key = 'bot.release'",
                     ('{"type": "string", "default": "gone"}',))
        conn.commit()
        conn.close()
    definition = {"type": "bool", "default": False}
    refused = _outcome(_main_road(main), "flag", "ops.kill", definition, {"reason": "r"})
    assert refused[0] is FlagError and "no such channel" in refused[1]
    assert _outcome(_light_road(light), "flag", "ops.kill", definition, {"reason": "r"}) == refused
    assert _rows(main) == _rows(light)


@pytest.mark.parametrize("key", ["bot.release", "bot.model"])
def test_gated_flags_are_left_to_the_main_road(tmp_path: Path, key: str) -> None:
    _, light = _stores(tmp_path)
    before = _rows(light)
    assert put_if_plain(light, "flag", key, {"type": "string", "default": "production"},
                        actor="a", reason="r", expected_version=None, routing=lambda: None) is None
    assert _rows(light) == before


def test_a_missing_or_unmigrated_database_is_left_to_the_main_road(tmp_path: Path) -> None:
    spec = {"type": "bool", "default": True}
    missing = tmp_path / "none.db"
    assert put_if_plain(missing, "flag", "a.b", spec, actor="a", reason="r",
                        expected_version=None, routing=lambda: None) is None
    assert not missing.exists()
    old = tmp_path / "old.db"
    Store.open(f"sqlite:///{old}").close()
    conn = sqlite3.connect(old)
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.commit()
    conn.close()
    before = _rows(old)
    assert put_if_plain(old, "flag", "a.b", spec, actor="a", reason="r",
                        expected_version=None, routing=lambda: None) is None
    assert _rows(old) == before


def test_sqlite_path_agrees_with_the_store_url(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from rampway.store import resolve_url

    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    for configured in (None, "sqlite:///data/r.db", f"sqlite:///{tmp_path}/abs.db"):
        path = sqlite_path(tmp_path, configured)
        assert f"sqlite:///{path}" == resolve_url(tmp_path, configured), configured
    for other in ("postgresql://u@h/db", "sqlite://", "sqlite:///:memory:",
                  "sqlite:///r.db?timeout=3", "sqlite:///a%20b.db"):
        assert sqlite_path(tmp_path, other) is None, other
    monkeypatch.setenv("RAMPWAY_DB", "postgresql://u@h/db")
    assert sqlite_path(tmp_path, None) is None


def test_concurrent_writes_on_both_roads_queue_and_lose_nothing(tmp_path: Path) -> None:
    """Both roads begin with `BEGIN IMMEDIATE` and bump the control version first, so writers
    on either road queue: every write gets its own version, audit row and control bump."""
    import threading

    main, _ = _stores(tmp_path)
    start = sqlite3.connect(main).execute("SELECT version FROM control_state").fetchone()[0]
    errors: list[BaseException] = []

    def writer(put: Put, label: str) -> None:
        try:
            for i in range(10):
                put("flag", "ops.kill", {"type": "bool", "default": i % 2 == 0},
                    actor=label, reason=f"{label} {i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(_main_road(main), "main")),
               threading.Thread(target=writer, args=(_light_road(main), "light"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = sqlite3.connect(main)
    version = conn.execute("SELECT version FROM flag_definitions WHERE key = 'ops.kill'")
    assert version.fetchone()[0] == 20
    audited = conn.execute("SELECT actor, json_extract(after, '$.version') FROM audit_log "
                           "WHERE object_id = 'ops.kill' ORDER BY id").fetchall()
    assert sorted(v for _, v in audited) == list(range(1, 21))
    assert {a for a, _ in audited} == {"main", "light"}
    bumped = conn.execute("SELECT version FROM control_state").fetchone()[0]
    assert bumped == start + 20
