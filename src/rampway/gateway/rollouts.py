"""The rollout controller running beside the gateway (`rampway serve`, on by default).

    loop = RolloutLoop(Controller(store, notifier=notifier, interval=60))
    loop.start()        # a first look now, then one every `interval` seconds
    loop.stop()         # waits for a look in progress to finish; nothing is cut mid-write

A thread rather than an asyncio task: `Controller.tick` is blocking database and numpy work,
and cancelling a task that awaits `to_thread(tick)` would not stop the thread — the store could
be closed under a look still writing. With a thread and an event, `stop` returns only once the
loop has left `tick`. The same loop also runs in `rampway serve --workers N`'s supervisor, which
has no event loop.

Several loops (processes, hosts) on one database look one at a time: only the holder of the
fleet's controller lease looks (`rampway.rollout.lease`), so N gateways do not make N looks per
interval; the others stand by and take over when it goes away. Each transition is a
compare-and-swap anyway, written and announced by exactly one process (`rampway.rollout.repo`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rampway.errors import RampwayError

if TYPE_CHECKING:
    from rampway.rollout.controller import Controller

log = logging.getLogger("rampway.rollout")


class RolloutLoop:
    """Calls `controller.tick()` every `controller.interval` seconds on a daemon thread."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.looks = 0  # completed looks, for tests and /readyz-style introspection
        self.standing_by = 0  # turns skipped: another process's controller held the lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rampway-rollouts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop looking; a look in progress completes first (bounded by `timeout`); the fleet
        lease is given up, so another process's controller takes over."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("rollout controller still busy after %gs; leaving it", timeout)
                return
        self.controller.lease.release()

    def _run(self) -> None:
        delay = 0.0  # the first look right away: a due transition should not wait a minute
        while not self._stop.wait(delay):
            self.look()
            delay = self.controller.interval

    def look(self) -> None:
        """One tick, if this process holds the fleet's controller lease (otherwise another
        process looks: `standing_by` counts those turns). A failure is logged and retried
        next time, never fatal to the gateway."""
        try:
            if self.controller.look() is None:
                self.standing_by += 1
                return
        except RampwayError as exc:
            log.warning("rollout controller look failed, retrying in %gs: %s",
                        self.controller.interval, exc)
        except Exception:  # noqa: BLE001 - a bug or a raw driver error must not end the loop
            log.exception("rollout controller look failed, retrying in %gs",
                          self.controller.interval)
        self.looks += 1


__all__ = ["RolloutLoop"]
