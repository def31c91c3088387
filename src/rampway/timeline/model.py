"""One entry of a feature's timeline, and the query every entry source answers.

Plain data, no I/O: the CLI prints entries, the admin API and the dashboard serialise them with
`TimelineEntry.to_json()`.

    >>> from datetime import UTC, datetime
    >>> e = TimelineEntry(at=datetime(2026, 1, 1, tzinfo=UTC), area="channel",
    ...                   kind="channel.set", ref="support-bot/production",
    ...                   summary="production → support-bot@9f1c", actor="ana", reason="v2",
    ...                   releases=("support-bot@9f1c",))
    >>> e.to_json()["at"]
    '2026-01-01T00:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    """What to assemble: one feature, optionally one release (its full id) and a window.

    `limit` bounds what each source reads (newest first) and what the timeline keeps, so a
    feature with years of history costs the same as a young one.
    """

    feature: str
    release: str | None = None
    since: datetime | None = None
    limit: int = 500


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """Something that happened to a feature: who did what, when, why, and what changed.

    `area` is where it comes from (`release`, `gate`, `rollout`, `experiment`, `channel`,
    `flag`; a new source adds its own, e.g. `shadow`), `kind` the precise event
    (`rollout.advance`, `channel.rollback`, `gate.pass`, …), `ref` the object it happened to
    (`support-bot#3`, `support-bot/production`, a flag key, `gate#12`). `releases` lists the
    release ids it concerns, which is what `--release` filters on. `details` holds the evidence
    (a gate's reasons, the judge's guardrail results, a rollout's weight).
    """

    at: datetime
    area: str
    kind: str
    ref: str
    summary: str
    actor: str
    reason: str = ""
    releases: tuple[str, ...] = ()
    before: Any = None
    after: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "area": self.area, "kind": self.kind, "ref": self.ref,
            "summary": self.summary, "actor": self.actor, "reason": self.reason,
            "releases": list(self.releases), "before": self.before, "after": self.after,
            "details": self.details,
        }


__all__ = ["TimelineEntry", "TimelineQuery"]
