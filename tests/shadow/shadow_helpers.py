"""Start shadows on the gateway helpers' project (support-bot: production → v1 on sim-large;
v2 on sim-small is the candidate), and read their pairs back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from gateway_helpers import Proj

from rampway.shadow import repo
from rampway.shadow.record import ShadowRecord
from rampway.shadow.spec import Definition
from rampway.shadow.tables import shadow_pairs
from rampway.store import Store

FEATURE = "support-bot"


def definition(**overrides: Any) -> Definition:
    data: dict[str, Any] = {"feature": FEATURE, "candidates": ["v2"], "sample": 100,
                            "budget": {"usd_per_day": 100, "requests_per_s": 1000}}
    data.update(overrides)
    return Definition.model_validate(data)


def start(proj: Proj, name: str = "v2-on-prod", candidates: list[str] | None = None,
          **overrides: Any) -> ShadowRecord:
    with Store.open(proj.db_url) as store:
        return repo.start(store, name, definition(**overrides), candidates or [proj.v2.id],
                          actor="ana", reason="test", now=time.time())


def pairs(db_url: str) -> list[Any]:
    with Store.open(db_url) as store, store.engine.connect() as conn:
        return list(conn.execute(sa.select(shadow_pairs).order_by(shadow_pairs.c.id)))


async def until(predicate: Any, seconds: float = 5.0) -> float:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < seconds, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - t0
