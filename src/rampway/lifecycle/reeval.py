"""Re-evaluation of production releases: what triggers one, and its record.

A production release was gated against the model as it answered then. Three things change
that without anyone touching the release, and each re-runs its gate:

    drift        the provider-reported model changed (`rampway.lifecycle.drift`): the release
                 is gated against itself — fresh calls vs the answers cached before the drift
    catalog      its models' catalog entries changed (price, dates, successor): same self-gate
                 (a price change shows as the cost delta)
    deprecation  a model is deprecated or retires within the window: the successor candidate
                 (`plan_upgrade`, stored as a draft) is gated against production

    dues = find_due(store, catalog, kinds, drifts, triggers={"drift"}, today=…, horizon=…)
    for due in dues: ...gate it..., then record_reeval(store, due, report)   # or a `blocked`

The audit log is the memory, as for drift (`watch.py`): a `model.catalog` entry per release
keeps the catalog entries last seen (the first one is the baseline, not a change), and each
`model.reeval` entry lists the trigger keys it handled, so a trigger fires once whichever
watcher process sees it. Both entries sit on the release's timeline next to the gate run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rampway.errors import RampwayError
from rampway.lifecycle.drift import Drift
from rampway.providers.catalog import Catalog, ModelInfo, sunset_status
from rampway.release import Release
from rampway.store.schema import audit_log

if TYPE_CHECKING:
    from rampway.evals.runner import RunOptions
    from rampway.gate.report import GateReport
    from rampway.gate.run import GateContext
    from rampway.store import Store

TRIGGERS = ("drift", "catalog", "deprecation")
REEVAL = "model.reeval"
CATALOG = "model.catalog"
EVENT = "model_reeval"
ACTOR = "rampway-watch"
PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str  # one of TRIGGERS
    key: str  # the same key again = already handled
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Due:
    """A production release to re-evaluate, and why: `self_check` gates it against itself,
    `upgrade` gates its successor candidate."""

    feature: str
    release: Release
    triggers: tuple[Trigger, ...]
    sample: int  # the self-gate's independent sample number: 2 + earlier self-gates (1 is
    # what `rampway gate` uses for a release against itself: its answers must not be reused)

    @property
    def self_check(self) -> tuple[Trigger, ...]:
        return tuple(t for t in self.triggers if t.kind != "deprecation")

    @property
    def upgrade(self) -> tuple[Trigger, ...]:
        return tuple(t for t in self.triggers if t.kind == "deprecation")


def catalog_snapshot(release: Release, catalog: Catalog, kinds: Mapping[str, str]) -> dict[
        str, Any]:
    """The catalog entries of every model the release may call, and their digest."""
    entries = {f"{p}/{m}": None if (info := _find(catalog, kinds, p, m)) is None
               else info.to_json() for p, m in release.models}
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    return {"digest": hashlib.sha256(text.encode()).hexdigest()[:16], "entries": entries}


def catalog_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """'sim/sim-large deprecation_date: None → 2027-02-01', one per changed field. Pure."""
    changes: list[str] = []
    for model in sorted(set(before) | set(after)):
        old, new = before.get(model) or {}, after.get(model) or {}
        changes += [f"{model} {key}: {old.get(key)} → {new.get(key)}"
                    for key in sorted(set(old) | set(new))
                    if key not in ("provider", "model") and old.get(key) != new.get(key)]
    return changes


def triggers_for(
    release: Release,
    catalog: Catalog,
    kinds: Mapping[str, str],
    drifts: Iterable[Drift],
    changed: Sequence[str],
    *,
    today: dt.date,
    horizon: dt.date,
) -> list[Trigger]:
    """Every trigger that applies to `release` now (handled or not). Pure."""
    found = [Trigger("drift", f"drift {d.provider}/{d.model} {d.before} → {d.after}",
                     f"{d.provider}/{d.model} answered as {d.before} → {d.after}")
             for d in drifts if d.release_id == release.id and d.kind == "model"]
    if changed:
        found.append(Trigger("catalog", "catalog " + "; ".join(changed),
                             "catalog: " + "; ".join(changed[:3])
                             + (f" (+{len(changed) - 3})" if len(changed) > 3 else "")))
    provider, model = release.models[0]
    info = _find(catalog, kinds, provider, model)
    hit = None if info is None else sunset_status(info, today, horizon)
    if hit is not None:
        what = f"{provider}/{model} {hit[0]} {hit[1].isoformat()}"
        found.append(Trigger("deprecation", f"deprecation {what}", what))
    return found


def find_due(
    store: Store,
    catalog: Catalog,
    kinds: Mapping[str, str],
    drifts: Sequence[Drift],
    *,
    triggers: Iterable[str],
    today: dt.date,
    horizon: dt.date,
) -> list[Due]:
    """Production releases with a trigger not handled yet. Writes the `model.catalog`
    entries (baseline or change) as a side effect: seeing a change is a fact worth keeping
    even when `catalog` is not a trigger."""
    enabled = set(triggers)
    dues = []
    for feature, release in production_releases(store):
        snapshot = catalog_snapshot(release, catalog, kinds)
        last = _last_after(store, CATALOG, release.id)
        changed: list[str] = []
        if last is None or last.get("digest") != snapshot["digest"]:
            if last is not None:
                changed = catalog_changes(last.get("entries") or {}, snapshot["entries"])
            reason = ("catalog entries changed: " + "; ".join(changed) if changed
                      else "catalog entries recorded (the baseline for re-evaluation)")
            store.record_audit(actor=ACTOR, action=CATALOG, object_type="release",
                               object_id=release.id, before=last, after=snapshot,
                               reason=reason[:1000])
        handled, samples = _handled(store, release.id)
        fresh = [t for t in triggers_for(release, catalog, kinds, drifts, changed, today=today,
                                         horizon=horizon)
                 if t.kind in enabled and t.key not in handled]
        if fresh:
            dues.append(Due(feature, release, tuple(fresh), samples + 2))
    return dues


def record_reeval(
    store: Store,
    due: Due,
    triggers: Sequence[Trigger],
    *,
    candidate: str,
    report: GateReport | None = None,
    blocked: str | None = None,
) -> dict[str, Any]:
    """The `model.reeval` entry on the production release's timeline; its `after`."""
    from rampway.gate import latest_gate

    after: dict[str, Any] = {
        "feature": due.feature, "release_id": due.release.id, "candidate": candidate,
        "self_check": candidate == due.release.id, "triggers": [t.to_json() for t in triggers],
        "verdict": None, "gate_id": None, "blocked": blocked,
    }
    if report is not None:
        record = latest_gate(store, due.feature, candidate, due.release.id)
        after.update(verdict=report.decision.verdict.value,
                     gate_id=None if record is None else record.id)
    outcome = (f"blocked: {blocked}" if blocked is not None
               else f"gate {str(after['verdict']).upper()} (gate#{after['gate_id']})")
    what = "itself" if after["self_check"] else candidate
    reason = f"re-evaluated against {what} on {', '.join(t.detail for t in triggers)}: {outcome}"
    store.record_audit(actor=ACTOR, action=REEVAL, object_type="release",
                       object_id=due.release.id, before=None, after=after,
                       reason=reason[:1000])
    after["reason"] = reason
    return after


async def run_due(
    ctx: GateContext,
    due: Due,
    catalog: Catalog,
    kinds: Mapping[str, str],
    options: RunOptions,
    *,
    today: dt.date,
    horizon: dt.date,
) -> list[dict[str, Any]]:
    """Gate what `due` asks for (itself, its successor candidate) and record each; a gate that
    cannot run (no suite, no successor, provider down) is recorded as blocked, not raised —
    the watcher moves on to the next release."""
    from rampway.gate.run import gate_feature
    from rampway.lifecycle.candidate import store_draft
    from rampway.lifecycle.upgrade import plan_upgrade

    release, done = due.release, []
    if due.self_check:
        try:
            report = await gate_feature(ctx, due.feature, release.id, release.id, options,
                                        sample=due.sample)
        except RampwayError as exc:
            done.append(record_reeval(ctx.store, due, due.self_check, candidate=release.id,
                                      blocked=exc.message))
        else:
            done.append(record_reeval(ctx.store, due, due.self_check, candidate=release.id,
                                      report=report))
    if due.upgrade:
        candidate = "-"
        try:
            plan = plan_upgrade(release, catalog, kinds, today=today, horizon=horizon)
            candidate = plan.candidate.id
            store_draft(ctx.store, plan, actor=ACTOR)
            report = await gate_feature(ctx, due.feature, candidate, release.id, options)
        except RampwayError as exc:
            done.append(record_reeval(ctx.store, due, due.upgrade, candidate=candidate,
                                      blocked=exc.message))
        else:
            done.append(record_reeval(ctx.store, due, due.upgrade, candidate=candidate,
                                      report=report))
    return done


def production_releases(store: Store) -> list[tuple[str, Release]]:
    out = []
    for state in store.list_channels():
        if state.channel == PRODUCTION and state.release_id is not None:
            record = store.get_release(state.feature, state.release_id)
            out.append((state.feature, Release.from_canonical(record.canonical)))
    return out


def _handled(store: Store, release_id: str) -> tuple[set[str], int]:
    """Trigger keys already re-evaluated for the release, and how many self-gates ran."""
    keys: set[str] = set()
    samples = 0
    for after in _afters(store, REEVAL, release_id):
        keys |= {str(t.get("key")) for t in after.get("triggers") or [] if isinstance(t, dict)}
        samples += bool(after.get("self_check")) and after.get("blocked") is None
    return keys, samples


def _afters(store: Store, action: str, release_id: str) -> list[dict[str, Any]]:
    c = audit_log.c
    query = (sa.select(c.after).where(c.action == action, c.object_type == "release",
                                      c.object_id == release_id).order_by(c.id.desc()))
    with store.reading() as conn:
        return [row.after for row in conn.execute(query) if isinstance(row.after, dict)]


def _last_after(store: Store, action: str, release_id: str) -> dict[str, Any] | None:
    found = _afters(store, action, release_id)
    return found[0] if found else None


def _find(catalog: Catalog, kinds: Mapping[str, str], provider: str,
          model: str) -> ModelInfo | None:
    return catalog.find(provider, model) or catalog.find(kinds.get(provider, ""), model)


__all__ = [
    "CATALOG",
    "EVENT",
    "REEVAL",
    "TRIGGERS",
    "Due",
    "Trigger",
    "catalog_changes",
    "catalog_snapshot",
    "find_due",
    "production_releases",
    "record_reeval",
    "run_due",
    "triggers_for",
]
