"""Starting and stopping experiments: the record, its audit rows, the control version, and the
rule that one thing at a time splits a feature's traffic."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from experiment_helpers import FEATURE, T0, definition, published, start

from rampway.errors import ConfigError, ConflictError, RefError, StateConflict
from rampway.experiments import repo
from rampway.experiments.tables import experiments
from rampway.rollout import Plan
from rampway.rollout import repo as rollouts
from rampway.store import Store


def test_start_records_the_resolved_arms_and_the_definition(store: Store) -> None:
    ids = published(store, n=3)
    before = store.control_version()
    record = start(store, "tone", n=3, ids=[ids[0], ids[1][:len(FEATURE) + 6], ids[2]],
                   coverage=60, secondary=["conversion:resolved"], alpha=0.01)
    assert record.status == "running" and record.running and record.name == "tone"
    assert [(a.name, a.release_id, a.weight_bp) for a in record.arms] == [
        ("control", ids[0], 3334), ("treatment1", ids[1], 3333), ("treatment2", ids[2], 3333)]
    assert record.control.name == "control" and record.arm("treatment2").release_id == ids[2]
    assert record.coverage_bp == 6000
    assert record.salt == f"experiment:{FEATURE}:{record.id}"
    assert record.unit == "user" and record.primary == "feedback:thumbs_up"
    assert record.secondary == ("conversion:resolved",)
    assert [(g.metric, g.bad) for g in record.guardrails] == [("error_rate", "increase")]
    assert record.alpha == 0.01 and record.min_runtime_s == 86400.0
    assert record.started_at == T0 and record.stopped_at is None
    assert record.definition["arms"][1]["release"] == "v2"  # as written, not as resolved
    assert record.actor == "ana" and record.reason == "try it" and record.version == 1
    assert store.control_version() == before + 1
    [entry] = store.list_audit(object_type="experiment")
    assert entry.action == "experiment.start" and entry.object_id == f"tone#{record.id}"
    assert entry.actor == "ana" and entry.reason == "try it"
    assert entry.after["arms"][0] == {"name": "control", "release_id": ids[0], "weight_bp": 3334}
    assert repo.running(store, FEATURE) == record == repo.latest(store, "tone")
    assert repo.list_running(store) == [record]


def test_stop_keeps_the_record_and_returns_traffic(store: Store) -> None:
    record = start(store)
    version = store.control_version()
    stopped = repo.stop(store, record, actor="bo", reason="enough data", now=T0 + 3600)
    assert stopped.status == "stopped" and not stopped.running
    assert stopped.started_at == T0 and stopped.stopped_at == T0 + 3600
    assert stopped.stopped_by == "bo" and stopped.stop_reason == "enough data"
    assert stopped.version == 2 and stopped.arms == record.arms and stopped.salt == record.salt
    assert store.control_version() == version + 1
    assert repo.running(store, FEATURE) is None and repo.list_running(store) == []
    assert repo.latest(store, "tone") == stopped == repo.get(store, record.id)
    actions = [e.action for e in store.list_audit(object_type="experiment")]
    assert actions == ["experiment.stop", "experiment.start"]
    with pytest.raises(StateConflict, match="already stopped"):
        repo.stop(store, stopped, actor="bo", reason="again", now=T0 + 7200)
    with pytest.raises(StateConflict, match="already stopped"):  # a stale read of it, too
        repo.stop(store, record, actor="bo", reason="again", now=T0 + 7200)
    assert store.control_version() == version + 1  # refusals write nothing
    again = start(store, ids=[a.release_id for a in record.arms])  # the name runs again
    assert again.id != record.id and again.salt != record.salt
    assert repo.latest(store, "tone") == again
    assert [r.id for r in repo.recent(store, name="tone")] == [again.id, record.id]


def test_stop_with_a_stale_version_is_a_conflict(store: Store) -> None:
    record = start(store)
    with pytest.raises(ConflictError, match="version 1, not 7"):
        repo.stop(store, record, actor="bo", reason="x", now=T0, expected_version=7)
    assert repo.stop(store, record, actor="bo", reason="x", now=T0, expected_version=1).version == 2


def test_a_stop_racing_another_write_is_a_conflict_and_writes_nothing(store: Store) -> None:
    record = start(store)
    with store.transaction() as conn:  # another writer changed the row after `record` was read
        conn.execute(experiments.update().where(experiments.c.id == record.id)
                     .values(version=experiments.c.version + 1))
    version = store.control_version()
    with pytest.raises(ConflictError, match="experiment 'tone' changed meanwhile; read it again"):
        repo.stop(store, record, actor="bo", reason="x", now=T0)
    assert store.control_version() == version and repo.get(store, record.id).running
    assert [e.action for e in store.list_audit(object_type="experiment")] == ["experiment.start"]


def test_one_running_experiment_per_feature_and_per_name(store: Store) -> None:
    ids = published(store)
    published(store, "other-bot")
    first = start(store, "tone", ids=ids)
    version = store.control_version()
    with pytest.raises(StateConflict, match=r"running experiment \(tone#\d+\); stop it first"):
        start(store, "length", ids=ids)
    with pytest.raises(StateConflict, match="experiment 'tone' is already running"):
        start(store, "tone", feature="other-bot",
              ids=[r.release_id for r in store.list_releases("other-bot")][::-1])
    assert store.control_version() == version and repo.list_running(store) == [first]


def test_an_active_rollout_rules_an_experiment_out(store: Store) -> None:
    ids = published(store)
    rollouts.create(store, feature=FEATURE, candidate=ids[1], baseline=ids[0],
                    baseline_channel="production", plan=Plan(), actor="ana",
                    now=datetime.fromtimestamp(T0, UTC), reason="ramp")
    with pytest.raises(StateConflict, match="has an active rollout"):
        start(store, ids=ids)
    assert repo.list_running(store) == []
    repo.check_no_experiment(store, FEATURE)  # nothing runs: fine


def test_check_no_experiment_refuses_while_one_runs(store: Store) -> None:
    record = start(store)
    with pytest.raises(StateConflict, match=f"first .rampway experiment stop {record.name}"):
        repo.check_no_experiment(store, FEATURE)
    repo.check_no_experiment(store, "other-bot")
    repo.stop(store, record, actor="ana", reason="done", now=T0)
    repo.check_no_experiment(store, FEATURE)


def test_bad_arms_write_nothing(store: Store) -> None:
    ids = published(store)
    version = store.control_version()
    with pytest.raises(RefError, match="no release"):
        start(store, ids=[ids[0], f"{FEATURE}@ffffffff"])
    with pytest.raises(RefError, match="not a release of feature"):
        start(store, ids=[ids[0], "other-bot@12345678"])
    store.set_channel(FEATURE, "treatment1", ids[1], actor="test", reason="a channel")
    with pytest.raises(ConfigError, match="named like a channel"):
        start(store, ids=ids)
    with pytest.raises(RefError, match="no 'production' channel"):
        start(store, feature="new-bot", ids=[ids[0], ids[1]])
    assert store.control_version() == version + 1  # only the channel move above
    assert repo.list_running(store) == [] and store.list_audit(object_type="experiment") == []


def test_racing_starts_run_exactly_one(db_url: str) -> None:
    with Store.open(db_url) as setup:
        ids = published(setup)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        with Store.open(db_url) as store:
            barrier.wait()
            try:
                results.append(repo.start(store, f"race{i}", definition(), ids, actor="t",
                                          reason="test", now=T0))
            except StateConflict as exc:
                results.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    started = [r for r in results if not isinstance(r, Exception)]
    assert len(results) == 4 and len(started) == 1
    with Store.open(db_url) as store:
        assert len(repo.list_running(store)) == 1
        assert len(store.list_audit(object_type="experiment")) == 1


def test_unknown_names_and_ids(store: Store) -> None:
    with pytest.raises(RefError, match="no experiment 'nope' was ever started"):
        repo.latest(store, "nope")
    with pytest.raises(RefError, match="no experiment #42"):
        repo.get(store, 42)
    with pytest.raises(ConfigError, match="invalid experiment name"):
        repo.latest(store, "a/b")


def test_a_running_experiment_rules_a_rollout_out(store: Store) -> None:
    from rampway.rollout import Controller

    record = start(store)
    candidate = record.arms[1].release_id
    version = store.control_version()
    with pytest.raises(StateConflict, match="has a running experiment"):
        Controller(store).start(FEATURE, candidate, plan=Plan(), actor="ana", skip_gate=True,
                                reason="hotfix")
    assert rollouts.active(store, FEATURE) is None and store.control_version() == version
    repo.stop(store, record, actor="ana", reason="done", now=T0)
    started = Controller(store).start(FEATURE, candidate, plan=Plan(), actor="ana",
                                      skip_gate=True, reason="hotfix")
    assert started.status.active


def test_a_start_that_got_past_its_checks_is_still_refused_inside_its_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the checks before the transaction can't see (two nodes, same moment): each
    start re-checks the other kind under the control row's lock (claim_traffic_split)."""
    ids = published(store)
    record = start(store, ids=ids)
    version = store.control_version()
    with pytest.raises(StateConflict, match="has a running experiment"):
        rollouts.create(store, feature=FEATURE, candidate=ids[1], baseline=ids[0],
                        baseline_channel="production", plan=Plan(), actor="ana",
                        now=datetime.fromtimestamp(T0, UTC), reason="ramp")
    assert rollouts.active(store, FEATURE) is None and store.control_version() == version
    repo.stop(store, record, actor="ana", reason="done", now=T0)

    rollout = rollouts.create(store, feature=FEATURE, candidate=ids[1], baseline=ids[0],
                              baseline_channel="production", plan=Plan(), actor="ana",
                              now=datetime.fromtimestamp(T0, UTC), reason="ramp")
    version = store.control_version()
    monkeypatch.setattr(repo, "check_can_start", lambda *_args: None)  # as if it raced past
    with pytest.raises(StateConflict, match=f"has an active rollout \\(#{rollout.id}\\)"):
        start(store, "tone2", ids=ids)
    assert repo.list_running(store) == [] and store.control_version() == version
