"""Real threads against a real database: concurrent writers never lose a move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from store_helpers import digest_of, publish

from rampway.errors import ConflictError
from rampway.store import Store

THREADS = 8
MOVES = 10


def _run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Start `count` workers at the same instant (barrier) and return their results."""
    barrier = threading.Barrier(count)

    def start(n: int) -> object:
        barrier.wait()
        return work(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_concurrent_set_channel_never_loses_a_move(store: Store) -> None:
    ids = [publish(store, "support-bot", f"v{n}") for n in range(3)]
    control = store.control_version()

    def mover(thread: int) -> list[int]:
        versions = []
        for move in range(MOVES):
            state = store.set_channel(
                "support-bot",
                "production",
                ids[(thread + move) % len(ids)],
                actor=f"worker-{thread}",
                reason=f"{thread}:{move}",
            )
            versions.append(state.version)
        return versions

    returned = _run_together(THREADS, mover)

    total = THREADS * MOVES
    history = store.channel_history("support-bot", "production", limit=1000)[::-1]
    assert [m.seq for m in history] == list(range(1, total + 1))
    assert sorted(m.reason for m in history) == sorted(
        f"{t}:{m}" for t in range(THREADS) for m in range(MOVES)
    )
    for previous, move in zip(history, history[1:], strict=False):
        assert move.from_release == previous.to_release  # an unbroken chain of pointers
    for thread, versions in enumerate(returned):
        assert versions == sorted(versions)  # type: ignore[type-var]
        mine = [int(m.reason.split(":")[1]) for m in history if m.actor == f"worker-{thread}"]
        assert mine == list(range(MOVES))  # each worker's moves in the order it made them
    assert sorted(v for vs in returned for v in vs) == list(range(1, total + 1))  # type: ignore[attr-defined]
    final = store.get_channel("support-bot", "production")
    assert final is not None and final.version == total
    assert final.release_id == history[-1].to_release
    assert len(store.list_audit(object_type="channel", limit=1000)) == total
    assert store.control_version() == control + total


def test_concurrent_expected_version_writers_have_exactly_one_winner(store: Store) -> None:
    ids = [publish(store, "support-bot", f"v{n}") for n in range(THREADS)]
    store.set_channel("support-bot", "production", ids[0], actor="ana", reason="start")

    def contender(n: int) -> str:
        try:
            store.set_channel(
                "support-bot", "production", ids[n], actor=f"w{n}", reason="race",
                expected_version=1,
            )
        except ConflictError as exc:
            assert "moved since you read it (version 1, now 2)" in str(exc)
            return "lost"
        return "won"

    outcomes = _run_together(THREADS, contender)

    assert outcomes.count("won") == 1
    assert len(store.channel_history("support-bot")) == 2
    assert store.get_channel("support-bot", "production").version == 2  # type: ignore[union-attr]


def test_concurrent_rollbacks_with_the_same_expected_version_have_one_winner(
    store: Store,
) -> None:
    ids = [publish(store, "support-bot", f"v{n}") for n in range(3)]
    for target in ids:
        store.set_channel("support-bot", "production", target, actor="ana", reason="ship")

    def contender(n: int) -> str:
        try:
            store.rollback("support-bot", actor=f"w{n}", reason="race", expected_version=3)
        except ConflictError as exc:
            assert "moved since you read it (version 3, now 4)" in str(exc)
            return "lost"
        return "won"

    outcomes = _run_together(THREADS, contender)

    assert outcomes.count("won") == 1
    final = store.get_channel("support-bot", "production")
    assert final is not None and (final.version, final.release_id) == (4, ids[1])
    assert len(store.channel_history("support-bot")) == 4


def test_concurrent_first_moves_of_a_new_channel_all_land(store: Store) -> None:
    release = publish(store, "support-bot", "v1")

    def first_mover(n: int) -> int:
        return store.set_channel(
            "support-bot", "canary", release, actor=f"w{n}", reason="go"
        ).version

    versions = _run_together(THREADS, first_mover)

    assert sorted(versions) == list(range(1, THREADS + 1))  # type: ignore[type-var]


def test_concurrent_identical_publishes_store_one_release(store: Store) -> None:
    digest = digest_of("same")

    def publisher(n: int) -> bool:
        return store.publish("bot", digest, f"bot@{digest[:8]}", "same", actor=f"w{n}",
                             reason="test")

    results = _run_together(THREADS, publisher)

    assert results.count(True) == 1
    assert len(store.list_releases("bot")) == 1
    assert store.control_version() == 1
