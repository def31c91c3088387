"""Shadow rows and pairs on both databases: start/stop audited and bumping the control version,
pairs read back joined with their primary's event row, and a rollout plan's
`requires: {shadow, min_pairs}` enforced before a rollout starts."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from gateway_helpers import Proj, first_use_migrates, make_project
from shadow_helpers import start

from rampway.errors import ConfigError, ConflictError, RefError, StateConflict
from rampway.events.model import RequestEvent
from rampway.events.sink import SqlEventSink
from rampway.rollout import Controller
from rampway.rollout.plan import Plan
from rampway.shadow import load_pairs, repo
from rampway.shadow.pairs import PairRow, PairWriter, pair_counts
from rampway.shadow.tables import shadows
from rampway.store import Store


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


def _pair(record_id: int, request_id: str, release_id: str, kind: str = "candidate",
          cost: float = 0.001) -> PairRow:
    return PairRow(
        shadow_id=record_id, shadow="v2-on-prod", request_id=request_id, kind=kind,
        unit_hash="u1", ts=time.time(), release_id=release_id, provider="sim",
        model="sim-small", status="ok", error_code=None, latency_ms=12.0, ttft_ms=None,
        input_tokens=10, output_tokens=40, cost_usd=cost, finish_reason="tool_calls",
        refusal=False, tool_calls=[{"name": "lookup_order", "arguments": '{"id": "A1"}'}],
        output_chars=0, output_text="lookup_order({\"id\": \"A1\"})",
    )


def _write(store: Store, rows: list[PairRow]) -> None:
    writer = PairWriter(store, flush_interval=0.01)
    writer.start()
    for row in rows:
        assert writer.emit(row)
    assert writer.flush(5)
    writer.close()


def test_start_and_stop_are_audited_and_move_the_control_version(proj: Proj) -> None:
    with Store.open(proj.db_url) as store:
        v0 = store.control_version()
        record = start(proj, ends="2h")
        assert store.control_version() > v0
        assert record.running and record.candidates == (proj.v2.id,)
        assert record.ends_at == pytest.approx(record.started_at + 7200)
        stopped = repo.stop(store, record, actor="bo", reason="done", now=time.time())
        assert (stopped.status, stopped.version, stopped.stopped_by) == ("stopped", 2, "bo")
        assert store.control_version() > v0 + 1
        with pytest.raises(StateConflict, match="already stopped"):
            repo.stop(store, stopped, actor="bo", reason="again", now=time.time())
        audit = [(a.action, a.object_id) for a in store.list_audit(object_type="shadow")]
        assert audit == [("shadow.stop", f"v2-on-prod#{record.id}"),
                         ("shadow.start", f"v2-on-prod#{record.id}")]
        with pytest.raises(ConfigError, match="already serves"):
            start(proj, "other", candidates=[proj.v1.id])
        with pytest.raises(ConfigError, match="already past"):
            start(proj, "other", ends="2001-01-01T00:00:00Z")
        assert [r.id for r in repo.recent(store)] == [record.id]


def test_a_stale_or_raced_stop_is_a_conflict_and_writes_nothing(proj: Proj) -> None:
    record = start(proj)
    with Store.open(proj.db_url) as store:
        version = store.control_version()
        with pytest.raises(ConflictError, match="shadow 'v2-on-prod' is at version 1, not 3"):
            repo.stop(store, record, actor="bo", reason="x", now=time.time(), expected_version=3)
        with store.transaction() as conn:  # another writer changed the row after the read
            conn.execute(shadows.update().where(shadows.c.id == record.id)
                         .values(version=shadows.c.version + 1))
        with pytest.raises(ConflictError, match="shadow 'v2-on-prod' changed meanwhile"):
            repo.stop(store, record, actor="bo", reason="x", now=time.time())
        assert store.control_version() == version and repo.get(store, record.id).running
        assert [a.action for a in store.list_audit(object_type="shadow")] == ["shadow.start"]
        with pytest.raises(RefError, match="no shadow #999"):
            repo.get(store, 999)
        with pytest.raises(RefError, match="no shadow 'nope' was ever started"):
            repo.latest(store, "nope")


def test_pairs_are_read_back_with_their_primary_event(proj: Proj) -> None:
    record = start(proj)
    with Store.open(proj.db_url) as store:
        event = RequestEvent(id="req_1", ts=time.time(), feature="support-bot",
                             release_id=proj.v1.id, arm="production", latency_ms=30.0,
                             output_tokens=20, cost_usd=0.002, finish_reason="stop",
                             prompt_text='{"messages": [{"role": "user", "content": "hi"}]}',
                             response_text="Hello!")
        SqlEventSink(store).write([event], [])
        _write(store, [_pair(record.id, "req_1", proj.v2.id),
                       _pair(record.id, "req_1", proj.v1.id, kind="twin"),
                       _pair(record.id, "req_gone", proj.v2.id)])  # its event was pruned
        found = list(load_pairs(store, "v2-on-prod"))
        assert pair_counts(store, record) == {"candidate": 2, "twin": 1}
    assert [(p.kind, p.release_id) for p in found] == [("candidate", proj.v2.id),
                                                      ("twin", proj.v1.id)]
    pair = found[0]
    assert (pair.primary.text, pair.primary.latency_ms, pair.primary.tool_calls) == (
        "Hello!", 30.0, ())
    assert pair.mirrored.tool_calls[0].name == "lookup_order"
    assert pair.mirrored.finish_reason == "tool_calls" and pair.request_excerpt == "hi"
    textless = start(proj, "no-texts", keep_text=False)  # texts left out on both sides
    with Store.open(proj.db_url) as store:
        _write(store, [replace(_pair(textless.id, "req_1", proj.v2.id), output_text=None)])
        (pair,) = load_pairs(store, "no-texts")
    assert pair.primary.text is None and pair.request_excerpt is None


def test_a_rollout_plan_can_require_shadow_pairs_first(proj: Proj) -> None:
    plan = Plan.model_validate({"requires": {"shadow": "v2-on-prod", "min_pairs": 2}})
    with Store.open(proj.db_url) as store:
        controller = Controller(store)
        with pytest.raises(StateConflict, match="never started"):
            controller.check_start("support-bot", proj.v2.id, plan)
        record = start(proj)
        _write(store, [_pair(record.id, "req_1", proj.v2.id)])
        with pytest.raises(StateConflict, match="only 1 so far"):
            controller.check_start("support-bot", proj.v2.id, plan)
        _write(store, [_pair(record.id, "req_2", proj.v2.id)])
        with pytest.raises(Exception) as err:  # now only the gate is missing
            controller.check_start("support-bot", proj.v2.id, plan)
        assert "shadow" not in str(err.value) and "gate" in str(err.value)
