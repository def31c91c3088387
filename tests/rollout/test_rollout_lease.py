"""One controller looks for the fleet: the lease is held by one controller per database at a
time, on SQLite (a file lock) and PostgreSQL (an advisory lock), and passes on when its
holder lets go or dies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from rampway.rollout import Controller
from rampway.rollout.lease import FleetLease
from rampway.store import Store


def test_one_holder_at_a_time_and_it_passes_on(db_url: str, store: Store) -> None:
    with Store.open(db_url) as other:
        first, second = FleetLease(store.engine), FleetLease(other.engine)
        assert first.hold() and first.held
        assert first.hold()  # keeping it is idempotent
        assert not second.hold() and not second.held
        first.release()
        assert second.hold()
        assert not first.hold()
        second.release()


def test_the_lease_of_a_killed_process_is_taken_over(db_url: str, store: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from rampway.rollout.lease import FleetLease
            from rampway.store import Store
            store = Store.open({db_url!r})
            lease = FleetLease(store.engine)
            assert lease.hold()
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lease = FleetLease(store.engine)
        assert not lease.hold()
        holder.kill()
        holder.wait(10)
        for _ in range(50):  # PostgreSQL notices the dead session a moment later
            if lease.hold():
                break
            asyncio.run(asyncio.sleep(0.1))
        assert lease.held
        lease.release()
    finally:
        holder.kill()


class CountingController(Controller):
    looks_done = 0

    def tick(self) -> list:  # type: ignore[type-arg]
        self.looks_done += 1
        return []


async def test_two_controller_loops_on_one_database_look_one_at_a_time(
    db_url: str, store: Store,
) -> None:
    with Store.open(db_url) as other:
        controllers = [CountingController(store, interval=0.05),
                       CountingController(other, interval=0.05)]
        tasks = [asyncio.create_task(c.run()) for c in controllers]
        await asyncio.sleep(0.6)
        first = [c.looks_done for c in controllers]
        assert sorted(first)[0] == 0 and sorted(first)[1] > 3, first  # one looks, one waits
        holder = first.index(max(first))
        tasks[holder].cancel()  # the holder stops: the other takes over
        with pytest.raises(asyncio.CancelledError):
            await tasks[holder]
        await asyncio.sleep(0.6)
        tasks[1 - holder].cancel()
        with pytest.raises(asyncio.CancelledError):
            await tasks[1 - holder]
    assert controllers[1 - holder].looks_done > 3, [c.looks_done for c in controllers]
