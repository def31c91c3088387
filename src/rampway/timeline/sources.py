"""Entry sources: one function per area, each reading its own rows of the store.

A source is `(store, query) -> list[TimelineEntry]`, reads at most `query.limit` rows (newest
first) inside `query.since`, and only entries that concern `query.release` when one is given.
`DEFAULT_SOURCES` is what `build_timeline` uses; an area that lands later (shadow traffic)
plugs in by passing `sources=(*DEFAULT_SOURCES, shadow_entries)` — no registry, no edit here.

Five of the areas below read the audit log. Each is also a source of its own
(`release_entries`, …), but `DEFAULT_SOURCES` is the one source `recorded_entries`, which
reads every area on one connection and the audit log once — one statement, each area's rows
still its own newest `limit` — so a timeline costs six queries instead of ten (a page's time
on a loaded server is mostly round trips), with the same entries in the same order.

Where each area's history lives:

    release     audit rows `release.publish`, `release.approve` (object `<feature>@<hex>`), and
                the model lifecycle's `model.upgrade|drift|catalog|reeval` on the same object
    gate        `gate_decisions` rows (verdict, policy, the decision's reasons)
    rollout     audit rows `rollout.*` (object `<feature>#<id>`; transitions carry the judge's
                evidence in `after.evidence`), joined to `rollouts` for the two releases
    experiment  audit rows `experiment.start|stop` of the feature's `experiments`
    channel     `channel_history` (every move, with from → to) and `channel.skip_gate` audits
    flag        audit rows of the feature's native flags (`<feature>.enabled`, `.release`, …)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from rampway.experiments.tables import experiments
from rampway.gate.tables import gate_decisions
from rampway.rollout.tables import rollouts
from rampway.store import Store
from rampway.store.schema import audit_log, channel_history
from rampway.timeline.model import TimelineEntry, TimelineQuery

EntrySource = Callable[[Store, TimelineQuery], list[TimelineEntry]]


@dataclass(frozen=True, slots=True)
class _AuditPart:
    """An area's share of the audit log: which rows (`where`), and how they become entries."""

    where: tuple[sa.ColumnElement[bool], ...]
    entries: Callable[[list[Row[Any]]], list[TimelineEntry]]


#: What an area reads, in its order: entries already read, or its part of the audit log.
_Piece = list[TimelineEntry] | _AuditPart
_Area = Callable[[Connection, TimelineQuery], list[_Piece]]


def _audit_query(q: TimelineQuery, part: _AuditPart) -> sa.Select[Any]:
    c = audit_log.c
    query = sa.select(audit_log).where(*part.where).order_by(c.id.desc()).limit(q.limit)
    if q.since is not None:
        query = query.where(c.at >= q.since)
    return query


def _audit_rows(conn: Connection, q: TimelineQuery, parts: list[_AuditPart]) -> list[
        list[Row[Any]]]:
    """Each part's rows (newest first, at most `q.limit`), read in one statement: a UNION ALL
    of the parts' own queries, each row tagged with its part's index."""
    if len(parts) <= 1:
        return [list(conn.execute(_audit_query(q, p))) for p in parts]
    tagged = [sa.select(_audit_query(q, p).add_columns(sa.literal(i, sa.Integer).label("part"))
                        .subquery()) for i, p in enumerate(parts)]
    found: list[list[Row[Any]]] = [[] for _ in parts]
    for row in conn.execute(sa.union_all(*tagged)):
        found[row.part].append(row)
    for rows in found:
        rows.sort(key=lambda r: r.id, reverse=True)
    return found


def _entries(conn: Connection, q: TimelineQuery, areas: Sequence[_Area]) -> list[
        TimelineEntry]:
    """The areas' entries, each area's in its own order, the areas in the order given."""
    pieces = [piece for area in areas for piece in area(conn, q)]
    parts = [p for p in pieces if isinstance(p, _AuditPart)]
    rows = iter(_audit_rows(conn, q, parts))
    out: list[TimelineEntry] = []
    for piece in pieces:
        out.extend(piece.entries(next(rows)) if isinstance(piece, _AuditPart) else piece)
    return out


def _source(*areas: _Area) -> EntrySource:
    def source(store: Store, q: TimelineQuery) -> list[TimelineEntry]:
        with store.reading() as conn:
            return _entries(conn, q, areas)
    return source


def _pct(weight_bp: Any) -> str:
    return f"{int(weight_bp) / 100:g}%" if isinstance(weight_bp, int) else "?"


# -- releases --------------------------------------------------------------------------------


_RELEASE_VERBS = {"release.publish": "published", "release.approve": "approved",
                  "model.upgrade": "is an upgrade candidate", "model.drift": "provider drift",
                  "model.catalog": "catalog entries", "model.reeval": "re-evaluated"}


def _release_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Publishes and approvals of the feature's releases."""
    c = audit_log.c
    which = (c.object_id == q.release if q.release is not None
             else c.object_id.startswith(f"{q.feature}@", autoescape=True))
    return [_AuditPart((c.object_type == "release", which), _release_entries)]


def _release_entries(rows: list[Row[Any]]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=r.at, area="release", kind=r.action, ref=r.object_id,
            summary=f"{r.object_id} {_RELEASE_VERBS.get(r.action, r.action)}", actor=r.actor,
            reason=r.reason, releases=(r.object_id,), before=r.before, after=r.after,
        )
        for r in rows
    ]


# -- gate decisions --------------------------------------------------------------------------


def _gate_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Every recorded `rampway gate` comparison, with its verdict and the decision's reasons."""
    c = gate_decisions.c
    query = (sa.select(gate_decisions).where(c.feature == q.feature)
             .order_by(c.id.desc()).limit(q.limit))
    if q.release is not None:
        query = query.where(sa.or_(c.candidate == q.release, c.baseline == q.release))
    if q.since is not None:
        query = query.where(c.at >= q.since)
    return [[_gate_entry(r) for r in conn.execute(query)]]


def _gate_entry(r: Row[Any]) -> TimelineEntry:
    summary = r.summary if isinstance(r.summary, dict) else {}
    decision = summary.get("decision") or {}
    reasons = [str(x) for x in (decision.get("reasons") or [])][:10]
    details = {"gate_id": int(r.id), "verdict": r.verdict, "policy": r.policy,
               "policy_digest": r.policy_digest, "suite_digest": r.suite_digest,
               "reasons": reasons}
    return TimelineEntry(
        at=r.at, area="gate", kind=f"gate.{r.verdict}", ref=f"gate#{r.id}",
        summary=f"gate {r.verdict.upper()}: {r.candidate} vs {r.baseline} ({r.policy})",
        actor=r.actor, reason="; ".join(reasons[:3]), releases=(r.candidate, r.baseline),
        details=details,
    )


# -- rollouts --------------------------------------------------------------------------------


def _rollout_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Every rollout transition, with where it left the weight and the judge's evidence."""
    c = audit_log.c
    found: dict[int, Any] = {int(r.id): r for r in conn.execute(
        sa.select(rollouts.c.id, rollouts.c.candidate, rollouts.c.baseline,
                  rollouts.c.plan).where(rollouts.c.feature == q.feature))}
    if q.release is not None:
        found = {i: r for i, r in found.items() if q.release in (r.candidate, r.baseline)}
    if not found:
        return []
    refs = [f"{q.feature}#{i}" for i in found]
    return [_AuditPart((c.object_type == "rollout", c.object_id.in_(refs)), lambda rows: [
        _rollout_entry(r, found.get(_id_of(r.object_id))) for r in rows])]


def _id_of(object_id: str) -> int:
    tail = object_id.rpartition("#")[2]
    return int(tail) if tail.isdigit() else -1


def _rollout_entry(r: Row[Any], rollout: Row[Any] | None) -> TimelineEntry:
    after = r.after if isinstance(r.after, dict) else {}
    releases = () if rollout is None else (str(rollout.candidate), str(rollout.baseline))
    event = r.action.partition(".")[2]
    details: dict[str, Any] = {"rollout_id": _id_of(r.object_id)}
    where = ""
    if "weight_bp" in after:
        details.update(status=after.get("status"), step=after.get("step"),
                       weight_bp=after.get("weight_bp"))
        where = f" → {after.get('status')} at {_pct(after.get('weight_bp'))}"
    elif event == "create" and rollout is not None:
        where = f": {rollout.candidate} over {rollout.baseline}"
    evidence = after.get("evidence")
    if isinstance(evidence, dict):
        details["evidence"] = evidence
    return TimelineEntry(
        at=r.at, area="rollout", kind=r.action, ref=r.object_id,
        summary=f"rollout {r.object_id} {event}{where}", actor=r.actor, reason=r.reason,
        releases=releases, before=r.before, after=r.after, details=details,
    )


# -- experiments -----------------------------------------------------------------------------


def _experiment_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Starts and stops of the feature's experiments (the stop's reason is the decision)."""
    c = audit_log.c
    found: dict[str, Any] = {f"{r.name}#{r.id}": r for r in conn.execute(
        sa.select(experiments.c.id, experiments.c.name, experiments.c.arms)
        .where(experiments.c.feature == q.feature))}
    if q.release is not None:
        found = {k: r for k, r in found.items() if q.release in _arm_releases(r.arms)}
    if not found:
        return []
    return [_AuditPart((c.object_type == "experiment", c.object_id.in_(list(found))),
                       lambda rows: _experiment_entries(rows, found))]


def _experiment_entries(rows: list[Row[Any]], found: dict[str, Any]) -> list[TimelineEntry]:
    out = []
    for r in rows:
        arms = found[r.object_id].arms
        listing = ", ".join(f"{a.get('name')}={a.get('release_id')}" for a in arms
                            if isinstance(a, dict))
        event = r.action.partition(".")[2]
        out.append(TimelineEntry(
            at=r.at, area="experiment", kind=r.action, ref=r.object_id,
            summary=f"experiment {r.object_id} {event}" + (f" ({listing})" if event == "start"
                                                           else ""),
            actor=r.actor, reason=r.reason, releases=_arm_releases(arms), before=r.before,
            after=r.after, details={"arms": arms},
        ))
    return out


def _arm_releases(arms: Any) -> tuple[str, ...]:
    if not isinstance(arms, list):
        return ()
    return tuple(str(a["release_id"]) for a in arms if isinstance(a, dict) and "release_id" in a)


# -- channels --------------------------------------------------------------------------------


def _channel_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Every channel move (set or rollback, from → to) and every audited gate override."""
    h = channel_history.c
    query = (sa.select(channel_history).where(h.feature == q.feature)
             .order_by(h.id.desc()).limit(q.limit))
    if q.release is not None:
        query = query.where(sa.or_(h.from_release == q.release, h.to_release == q.release))
    if q.since is not None:
        query = query.where(h.at >= q.since)
    c = audit_log.c
    moves = [_move_entry(m) for m in conn.execute(query)]
    skips = _AuditPart((c.action == "channel.skip_gate",
                        c.object_id.startswith(f"{q.feature}/", autoescape=True)),
                       lambda rows: _skip_entries(rows, q))
    return [moves, skips]


def _skip_entries(skips: list[Row[Any]], q: TimelineQuery) -> list[TimelineEntry]:
    out = []
    for r in skips:
        released = str((r.after or {}).get("release_id", ""))
        if q.release is not None and released != q.release:
            continue
        out.append(TimelineEntry(
            at=r.at, area="channel", kind=r.action, ref=r.object_id,
            summary=f"{r.object_id}: gate requirement skipped for {released}", actor=r.actor,
            reason=r.reason, releases=(released,) if released else (), after=r.after,
        ))
    return out


def _move_entry(m: Row[Any]) -> TimelineEntry:
    origin = m.from_release or "(new)"
    word = "rolled back" if m.kind == "rollback" else "moved"
    return TimelineEntry(
        at=m.at, area="channel", kind=f"channel.{m.kind}", ref=f"{m.feature}/{m.channel}",
        summary=f"{m.channel} {word}: {origin} → {m.to_release}", actor=m.actor,
        reason=m.reason,
        releases=tuple(x for x in (m.from_release, m.to_release) if x),
        before=None if m.from_release is None else {"release_id": m.from_release},
        after={"release_id": m.to_release, "version": int(m.seq)},
        details={"channel": m.channel, "version": int(m.seq)},
    )


# -- flags -----------------------------------------------------------------------------------


def _flag_area(conn: Connection, q: TimelineQuery) -> list[_Piece]:
    """Changes to the feature's native flags (`<feature>.<name>`), definition before → after.

    With a release, only changes whose definition (before or after) names it — a
    `<feature>.release` flag pointing some users at it, say.
    """
    c = audit_log.c
    return [_AuditPart((c.object_type == "flag",
                        c.object_id.startswith(f"{q.feature}.", autoescape=True)),
                       lambda rows: _flag_entries(rows, q))]


def _flag_entries(rows: list[Row[Any]], q: TimelineQuery) -> list[TimelineEntry]:
    out = []
    for r in rows:
        mentioned = _mentions(q.release, r.before, r.after)
        if q.release is not None and not mentioned:
            continue
        event = r.action.partition(".")[2]
        out.append(TimelineEntry(
            at=r.at, area="flag", kind=r.action, ref=r.object_id,
            summary=f"flag {r.object_id} {event}d{_flag_change(r.before, r.after)}",
            actor=r.actor, reason=r.reason, releases=mentioned, before=r.before, after=r.after,
        ))
    return out


def _mentions(release: str | None, *docs: Any) -> tuple[str, ...]:
    if release is None:
        return ()
    return (release,) if any(release in json.dumps(d, default=str) for d in docs) else ()


def _flag_change(before: Any, after: Any) -> str:
    """` (enabled: true → false)`-style text for the fields that changed, when short."""
    old = (before or {}).get("definition") if isinstance(before, dict) else None
    new = (after or {}).get("definition") if isinstance(after, dict) else None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ""
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    parts = [f"{k}: {_short(old.get(k))} → {_short(new.get(k))}" for k in changed[:3]]
    return f" ({'; '.join(parts)})" if parts else ""


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


# -- the sources -----------------------------------------------------------------------------

release_entries = _source(_release_area)
gate_entries = _source(_gate_area)
rollout_entries = _source(_rollout_area)
experiment_entries = _source(_experiment_area)
channel_entries = _source(_channel_area)
flag_entries = _source(_flag_area)
#: All six areas on one connection, the audit log read once (the module docstring).
recorded_entries = _source(_release_area, _gate_area, _rollout_area, _experiment_area,
                           _channel_area, _flag_area)

DEFAULT_SOURCES: Sequence[EntrySource] = (recorded_entries,)

__all__ = [
    "DEFAULT_SOURCES",
    "EntrySource",
    "channel_entries",
    "experiment_entries",
    "flag_entries",
    "gate_entries",
    "recorded_entries",
    "release_entries",
    "rollout_entries",
]
