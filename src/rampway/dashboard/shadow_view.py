"""A shadow as a page: its state, the verdict, the flagged difference classes with exemplars
side by side, every class against the noise floor, failure modes, latency and cost.

The report is `rampway shadow report`'s (`rampway.shadow.report.build_report` over
`load_pairs`), shown from its JSON form; the state line is `rampway shadow status`'s, read per
view. The report reads every pair, so the page serves it from an `AnalysisCache` (keyed by the
shadow's id and version, fingerprinted by its newest pair and its shed / over-budget counts)
and shows when it was computed.

    shadow_page(store, "v3-on-prod", now=time.time(), cache=AnalysisCache(ttl=10.0))
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rampway.dashboard.cache import AnalysisCache
from rampway.shadow import load_pairs, repo
from rampway.shadow.record import ShadowRecord
from rampway.shadow.report import build_report, similarity_of
from rampway.shadow.tables import shadow_pairs
from rampway.shadow.views import describe_state, status_json
from rampway.store import Store


def shadow_page(store: Store, name: str, *, now: float,
                cache: AnalysisCache | None = None) -> dict[str, Any]:
    """The latest shadow `name` (RefError: 404) with its report (as of `computed_at`)."""
    record = repo.latest(store, name)
    status = status_json(store, record, now)

    def compute() -> tuple[dict[str, Any], str]:
        report = build_report(load_pairs(store, name), name=name, shed=record.shed,
                              over_budget=record.over_budget,
                              similarity=similarity_of(record))
        return report.to_json(), report.verdict.value

    if cache is None:
        (doc, verdict), computed_at = compute(), now
    else:
        got = cache.get(("shadow", record.id, record.version),
                        lambda: shadow_fingerprint(store, record), compute)
        (doc, verdict), computed_at = got.value, got.computed_at
    return {"record": record, "status": status, "state": describe_state(status),
            "report": doc, "verdict": verdict, "computed_at": computed_at}


def shadow_fingerprint(store: Store, record: ShadowRecord) -> tuple[Any, ...]:
    """What changes when the report would: a newer pair, more shed or over-budget requests."""
    p = shadow_pairs.c
    with store.reading() as conn:
        newest = conn.scalar(sa.select(sa.func.max(p.ts)).where(p.shadow_id == record.id))
    return newest, record.shed, record.over_budget


__all__ = ["shadow_fingerprint", "shadow_page"]
