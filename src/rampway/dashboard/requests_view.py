"""Recent requests as a page, each explained: "why did this user get that answer?"

A request event keeps what was served (release, arm, status, latency, cost), the flags it
evaluated (value, reason, deciding rule) and, where the feature keeps texts, the prompt and
the answer. The explanation puts them next to what decided the release at that moment,
following the gateway's resolution order (`rampway.gateway.resolve`, then flag overrides):

    a `<feature>.release` flag rule        pinned by a flag (its rule index)
    arm `candidate` / `baseline`           a staged rollout's arm (the rollout then running)
    an arm of an experiment then running   that experiment's arm
    otherwise                              the channel named by the arm

    requests_page(store, Filters(feature="support-bot", status="error"))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rampway.errors import RequestError
from rampway.events.tables import release_floor, request_event_rows
from rampway.experiments import ExperimentRecord
from rampway.experiments import repo as experiments
from rampway.flags.native import flag_key
from rampway.gateway._common import find_unclean
from rampway.rollout import RolloutRecord, repo
from rampway.store import Store

LIMIT = 50
_FIELDS = ("feature", "release", "arm", "status")
_MAX_FILTER = 280


@dataclass(frozen=True, slots=True)
class Filters:
    """The page's query string: each given field must match exactly."""

    feature: str | None = None
    release: str | None = None
    arm: str | None = None
    status: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        values = {}
        for name in _FIELDS:
            value = (params.get(name) or "").strip()
            if len(value) > _MAX_FILTER:
                raise RequestError(f"{name}: at most {_MAX_FILTER} characters", param=name)
            values[name] = value or None
        problem = find_unclean({k: v for k, v in values.items() if v is not None})
        if problem is not None:  # PostgreSQL cannot even be asked about a NUL
            raise RequestError(f"{problem[0]}: {problem[1]}", param=problem[0])
        return cls(**values)

    def items(self) -> dict[str, str]:
        return {k: v for k in _FIELDS if (v := getattr(self, k)) is not None}


def requests_page(store: Store, filters: Filters, *, limit: int = LIMIT) -> dict[str, Any]:
    """The newest `limit` request events matching `filters`, each with its explanation."""
    e = request_event_rows.c
    query = sa.select(request_event_rows).order_by(e.ts.desc()).limit(limit)
    feature = filters.feature
    if feature is None and filters.release is not None and "@" in filters.release:
        # a release id is `<feature>@<hash>`: its feature's (feature, ts) index finds a rare
        # release's newest rows (there is no index on release_id, events_0012)
        feature = filters.release.rpartition("@")[0]
    for column, value in ((e.feature, feature), (e.release_id, filters.release),
                          (e.arm, filters.arm), (e.status, filters.status)):
        if value is not None:
            query = query.where(column == value)
    with store.reading() as conn:
        if filters.release is not None:  # a rare release: stop at its start, not the feature's
            query = query.where(e.ts >= release_floor(conn, filters.release))
        rows = [dict(r._mapping) for r in conn.execute(query)]
    features = sorted({str(r["feature"]) for r in rows})
    context = Context(
        rollouts={f: repo.recent(store, f, 50) for f in features},
        experiments={f: experiments.recent(store, feature=f, limit=50) for f in features},
    )
    return {"filters": filters.items(), "features": store.list_features(),
            "requests": [_row(r, context) for r in rows], "limit": limit}


@dataclass(frozen=True, slots=True)
class Context:
    """What was running around the requests: rollouts and experiments per feature."""

    rollouts: Mapping[str, Sequence[RolloutRecord]]
    experiments: Mapping[str, Sequence[ExperimentRecord]]


def _row(r: dict[str, Any], context: Context) -> dict[str, Any]:
    flags = r.get("flags") if isinstance(r.get("flags"), dict) else {}
    return {**r, "at": datetime.fromtimestamp(float(r["ts"]), UTC),
            "messages": _messages(r.get("prompt_text")), "flags": flags,
            "why": explain(r, flags or {}, context)}


def _messages(prompt_text: str | None) -> list[dict[str, str]]:
    """The stored prompt (`{"messages": [...], "vars": {...}}`) as role/content pairs."""
    if not prompt_text:
        return []
    try:
        doc = json.loads(prompt_text)
    except ValueError:
        return [{"role": "prompt", "content": prompt_text}]
    messages = doc.get("messages") if isinstance(doc, dict) else None
    out = [{"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
           for m in messages or [] if isinstance(m, dict)]
    if isinstance(doc, dict) and doc.get("vars"):
        out.append({"role": "vars", "content": json.dumps(doc["vars"], ensure_ascii=False)})
    return out


def explain(r: Mapping[str, Any], flags: Mapping[str, Any], context: Context) -> list[str]:
    """Why request `r` was served by its release, in the resolution's order (pure)."""
    feature, release, arm = str(r["feature"]), r.get("release_id"), r.get("arm")
    ts = float(r["ts"])
    out = []
    pinned = flags.get(flag_key(feature, "release"))
    if isinstance(pinned, dict) and pinned.get("reason") in ("TARGETING_MATCH", "SPLIT"):
        out.append(f"flag {flag_key(feature, 'release')} rule {pinned.get('rule')} "
                   f"({pinned.get('reason')}) served {pinned.get('value')}")
    elif arm in ("candidate", "baseline"):
        rollout = _running(context.rollouts.get(feature, ()), ts)
        out.append(f"the {arm} arm of rollout #{rollout.id} ({rollout.candidate} over "
                   f"{rollout.baseline})" if rollout is not None
                   else f"the {arm} arm of a staged rollout")
    else:
        experiment = next((x for x in context.experiments.get(feature, ())
                           if x.started_at <= ts <= (x.stopped_at or ts)
                           and arm in [a.name for a in x.arms]), None)
        if experiment is not None:
            out.append(f"arm {arm} of experiment {experiment.name}#{experiment.id}")
        else:
            out.append(f"channel {arm} served {release}" if arm else f"served {release}")
    for name in ("model", "max_tokens"):
        found = flags.get(flag_key(feature, name))
        if isinstance(found, dict) and found.get("value") is not None:
            out.append(f"flag {flag_key(feature, name)} = {found.get('value')} "
                       f"({found.get('reason')})")
    enabled = flags.get(flag_key(feature, "enabled"))
    if isinstance(enabled, dict) and enabled.get("value") is False:
        out.append(f"the kill switch {flag_key(feature, 'enabled')} was off: fallback served")
    if r.get("fallback_used"):
        out.append("the router fell back to another model after a failure")
    return out


def _running(rollouts: Sequence[RolloutRecord], ts: float) -> RolloutRecord | None:
    for rollout in rollouts:
        end = rollout.finished_at.timestamp() if rollout.finished_at else ts
        if rollout.created_at.timestamp() <= ts <= end:
            return rollout
    return None


__all__ = ["LIMIT", "Context", "Filters", "explain", "requests_page"]
