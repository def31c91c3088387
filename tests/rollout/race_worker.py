"""One controller process for the race test: says "ready" once connected, waits for "go" on
stdin (sent to both workers at once, however long each took to start on a loaded machine), then
looks as fast as it can until the rollout is finished; prints what it moved as JSON."""

from __future__ import annotations

import json
import os
import sys
import time

from rampway.rollout import Controller, repo
from rampway.store import Store


def main(url: str, feature: str) -> None:
    store = Store.open(url)
    controller = Controller(store, actor=f"controller-{os.getpid()}")
    repo.latest(store, feature)  # connected and warmed up before saying so
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("race worker: expected 'go' on stdin")
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
    main(sys.argv[1], sys.argv[2])
