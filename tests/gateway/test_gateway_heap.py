"""A serving worker takes its start-up heap out of the cyclic GC's reach (the p99 fix)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from gateway_helpers import make_project

from rampway._heap import settle_heap
from rampway.gateway.serve import ENV_PROJECT, app_from_env


class _Node:
    def __init__(self) -> None:
        self.other: object = None


def test_settle_heap_freezes_what_is_alive_and_new_cycles_are_still_collected() -> None:
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000
        node = _Node()
        node.other = node  # a reference cycle created after the freeze
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()  # give the test process its ordinary collector back


async def test_the_worker_factory_settles_the_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv(ENV_PROJECT, str(proj.project.root))
    try:
        app = app_from_env()
        assert gc.get_freeze_count() > 1000
        await app.runtime.stop()
    finally:
        gc.unfreeze()
