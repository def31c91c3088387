"""One controller process for the race test: waits for the common start time, then looks as
fast as it can until the rollout is finished; prints what it moved as JSON."""

from __future__ import annotations

import json
import os
import sys
import time

from rampway.rollout import Controller, repo
from rampway.store import Store


def main(url: str, start_at: float, feature: str) -> None:
    store = Store.open(url)
    controller = Controller(store, actor=f"controller-{os.getpid()}")
    while time.time() < start_at:
        time.sleep(0.001)
    moved: list[list[object]] = []
    deadline = time.time() + 60
    while time.time() < deadline:
        moved += [[r.version, r.status.value, r.step] for r in controller.tick()]
        latest = repo.latest(store, feature)
        if latest is not None and not latest.status.active:
            break
    store.close()
    print(json.dumps({"moved": moved, "lost": controller.lost_races}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
