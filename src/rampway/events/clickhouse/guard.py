"""What the judge's roll-up reads of the event log when the events are in ClickHouse and the
roll-up in the control database (`rampway.rollout.rollup.EventLog`): a segment's first
seconds (`merge_guard`, `guard_change`), the newest requests of a window (a look's coverage
check) and the feedback guardrails' totals.

Each read walks the table's (feature, ts) order from one end or over a few seconds of it, so
it costs the same at any table size — except the feedback guardrails', which join the
window's requests (`rampway.events.clickhouse.totals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from rampway.events.clickhouse.backend import Backend
from rampway.events.clickhouse.sql import to_clickhouse
from rampway.events.tables import request_events, unit_column
from rampway.rollout.metrics import FEEDBACK_PREFIX
from rampway.rollout.observations import Totals, UnitMoments
from rampway.rollout.plan import Guardrail
from rampway.rollout.rollup import GUARD_SECONDS, Columns

_EMPTY = UnitMoments(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
#: The first span (seconds before a look's end) its newest requests are looked for in.
NEWEST_SPAN_S = 60.0


class ClickHouseGuard:
    """`rampway.rollout.rollup.EventLog` on a ClickHouse backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def guard_columns(self, feature: str, since: float, release: str | None, arm: str | None,
                      until: float) -> Columns:
        ev = request_events.c
        where = [ev.feature == feature, ev.ts >= since,
                 ev.ts < min(until, since + GUARD_SECONDS)]
        if arm is not None:
            where += [ev.arm == arm, ev.release_id == release]
        found = self.backend.columns(to_clickhouse(sa.select(
            ev.feature, ev.ts, ev.arm, ev.release_id, ev.unit_hash, ev.id, ev.status,
            ev.fallback_used, ev.refusal, ev.ttft_ms, ev.cost_usd, ev.output_tokens,
            ev.latency_ms, ev.session_hash).where(*where)))
        return tuple(tuple(column) for column in found) if found and found[0] else ()

    def newest(self, feature: str, since: float, until: float, unit: str, limit: int,
               ) -> tuple[bool, list[tuple[Any, ...]]]:
        ev = request_events.c
        after = self.backend.columns(to_clickhouse(
            sa.select(ev.ts).where(ev.feature == feature, ev.ts >= until).limit(1)))
        name = sa.func.coalesce(unit_column(request_events, unit), ev.id)
        # ORDER BY ts DESC LIMIT n sorted every ts of the window (not read in order: 0.1 s at
        # 1M rows), so the newest are looked for in the last minute first, then in a span
        # 16 times as long, down to `since`: the same rows, a few granules read
        span = NEWEST_SPAN_S
        while True:
            start = max(since, until - span)
            found = self.backend.columns(to_clickhouse(
                sa.select(ev.arm, ev.release_id, name, ev.ts)
                .where(ev.feature == feature, ev.ts >= start, ev.ts < until)
                .order_by(ev.ts.desc()).limit(limit)))
            if start <= since or (found and len(found[0]) >= limit):
                return bool(after and after[0]), list(zip(*found, strict=True))
            span *= 16

    def feedback(self, feature: str, releases: Mapping[str, str],
                 guardrails: Sequence[Guardrail], since: float, until: float, unit: str,
                 ) -> Mapping[int, tuple[Totals, Totals]]:
        names = {i: g.metric[len(FEEDBACK_PREFIX):] for i, g in enumerate(guardrails)
                 if g.metric.startswith(FEEDBACK_PREFIX)}
        if not names:
            return {}
        from rampway.events.clickhouse.totals import _feedback_moments, arms_window

        found = _feedback_moments(self.backend, arms_window(feature, releases, since, until),
                                  feature, sorted(set(names.values())), since, until, unit)
        return {i: (found.get((name, "baseline"), _EMPTY), found.get((name, "candidate"), _EMPTY))
                for i, name in names.items()}


__all__ = ["ClickHouseGuard"]
