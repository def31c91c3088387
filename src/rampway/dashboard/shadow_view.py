"""A shadow as a page: its state, the verdict, the flagged difference classes with exemplars
side by side, every class against the noise floor, failure modes, latency and cost.

The report is `rampway shadow report`'s (`rampway.shadow.report.build_report` over
`load_pairs`), shown from its JSON form; the state line is `rampway shadow status`'s.

    shadow_page(store, "v3-on-prod", now=time.time())
"""

from __future__ import annotations

from typing import Any

from rampway.shadow import load_pairs, repo
from rampway.shadow.report import build_report, similarity_of
from rampway.shadow.views import describe_state, status_json
from rampway.store import Store


def shadow_page(store: Store, name: str, *, now: float) -> dict[str, Any]:
    """The latest shadow `name` (RefError: 404) with its report as of now."""
    record = repo.latest(store, name)
    status = status_json(store, record, now)
    report = build_report(load_pairs(store, name), name=name, shed=record.shed,
                          over_budget=record.over_budget, similarity=similarity_of(record))
    return {"record": record, "status": status, "state": describe_state(status),
            "report": report.to_json(), "verdict": report.verdict.value}


__all__ = ["shadow_page"]
