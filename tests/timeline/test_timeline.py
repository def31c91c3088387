"""The timeline over a seeded store (SQLite and PostgreSQL): every area, in order, filtered by
release and window, refusing unknown features and releases, and open to one more source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rollout_helpers import FEATURE, publish
from timeline_seed import seed

from rampway.errors import ConfigError, RefError
from rampway.store import Store
from rampway.timeline import (
    DEFAULT_SOURCES,
    TimelineEntry,
    TimelineQuery,
    build_timeline,
    since_window,
)


def test_every_area_in_order_filtered_refused_and_extensible(store: Store) -> None:
    s = seed(store)
    entries = build_timeline(store, FEATURE)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    kinds = [e.kind for e in entries]
    for kind in ("release.publish", "gate.pass", "flag.create", "flag.update", "rollout.create",
                 "rollout.start", "rollout.pause", "rollout.rollback", "experiment.start",
                 "experiment.stop", "channel.set", "channel.rollback"):
        assert kind in kinds, kind
    assert kinds.index("rollout.create") < kinds.index("rollout.pause") \
        < kinds.index("rollout.rollback") < kinds.index("experiment.start")
    assert not any("other-bot" in e.ref for e in entries)  # another feature's flag

    flag = next(e for e in entries if e.kind == "flag.update")
    assert (flag.actor, flag.reason) == ("bo", "incident 42")
    assert flag.before["definition"]["default"] is True
    assert flag.after["definition"]["default"] is False
    assert "default: true → false" in flag.summary

    pause = next(e for e in entries if e.kind == "rollout.pause")
    assert pause.ref == f"{FEATURE}#{s.rollout_id}" and pause.reason == "looks odd"
    assert pause.releases == (s.candidate, s.baseline)
    assert pause.details["status"] == "paused" and pause.details["weight_bp"] == 500
    rollback = next(e for e in entries if e.kind == "rollout.rollback")
    assert rollback.details["weight_bp"] == 0 and "rolled_back at 0%" in rollback.summary

    gate = next(e for e in entries if e.area == "gate")
    assert gate.details["verdict"] == "pass" and gate.releases == (s.candidate, s.baseline)
    stop = next(e for e in entries if e.kind == "experiment.stop")
    assert stop.ref == s.experiment_ref and stop.reason == "no lift: keep control"
    moves = [e for e in entries if e.area == "channel"]
    assert [m.summary for m in moves][-2:] == [
        f"production moved: {s.baseline} → {s.candidate}",
        f"production rolled back: {s.candidate} → {s.baseline}"]
    assert moves[-1].actor == "cy" and moves[-1].reason == "pager"
    doc = rollback.to_json()
    assert doc["at"].endswith("+00:00") and doc["releases"] == [s.candidate, s.baseline]

    # one release: what concerns it, and nothing else
    third = publish(store, FEATURE, "support-bot v3")
    entries = build_timeline(store, FEATURE, release=s.candidate[:len(FEATURE) + 6])
    assert entries and all(s.candidate in e.releases for e in entries)
    assert {e.area for e in entries} == {"release", "gate", "rollout", "experiment", "channel"}
    assert not any(e.ref == s.baseline and e.area == "release" for e in entries)
    assert [e.kind for e in build_timeline(store, FEATURE, release=third)] == ["release.publish"]

    # a window and a limit
    everything = build_timeline(store, FEATURE)
    assert build_timeline(store, FEATURE, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    recent = build_timeline(store, FEATURE, since=since_window("1h"))
    assert len(recent) == len(everything)
    assert build_timeline(store, FEATURE, limit=3) == everything[-3:]

    # refusals
    with pytest.raises(RefError, match="unknown feature 'nope'"):
        build_timeline(store, "nope")
    with pytest.raises(RefError, match="no release"):
        build_timeline(store, FEATURE, release="ffffffff")
    with pytest.raises(ConfigError, match="limit"):
        build_timeline(store, FEATURE, limit=0)

    # the extension point: shadow traffic (or any later area) adds one more source
    seen: list[TimelineQuery] = []

    def shadow_entries(st: Store, q: TimelineQuery) -> list[TimelineEntry]:
        seen.append(q)
        return [TimelineEntry(at=datetime.now(UTC) + timedelta(seconds=5), area="shadow",
                              kind="shadow.start", ref="shadow#1", summary="shadow started",
                              actor="ana", releases=(s.candidate,))]

    entries = build_timeline(store, FEATURE, release=s.candidate,
                             sources=(*DEFAULT_SOURCES, shadow_entries))
    assert entries[-1].area == "shadow"
    assert seen == [TimelineQuery(FEATURE, s.candidate, None, 500)]


def test_since_window_reads_durations() -> None:
    assert since_window("2d", datetime(2026, 1, 3, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert since_window("90m", datetime(2026, 1, 1, 2, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 30, tzinfo=UTC)
    with pytest.raises(ConfigError, match="since: invalid duration"):
        since_window("last week")
    with pytest.raises(ConfigError, match="since: a duration must be at most 100 years"):
        since_window("99999999999999999999d")  # was an OverflowError from timedelta

