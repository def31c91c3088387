"""An upgrade candidate on disk and in the store: the I/O around `plan_upgrade`.

    base, source = production_release(project, store, "support-bot")  # channel, else files
    written = write_candidate(plan, Path("upgrades/support-bot"))       # files + UPGRADE.md
    store_draft(store, plan, actor="ana")                               # on no channel

The written directory loads back to exactly `plan.candidate` (or nothing is written): copy it over
`releases/<feature>/` on a branch and the pull request shows the model change alone. In the store
the candidate is a *draft*: published (content-addressed, immutable) but on no channel, with a
`model.upgrade` audit entry that carries the generated description — the release's timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rampway.errors import ConfigError, RefError
from rampway.lifecycle.flagmodels import DATE_PATH
from rampway.lifecycle.upgrade import UpgradePlan
from rampway.release import Release, resolve_ref
from rampway.release._export import export_release

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.store import Store

NOTE_FILE = "UPGRADE.md"
TRANSITION_FILE = "transition-flags.yaml"
PRODUCTION = "production"


def production_release(
    project: Project, store: Store | None, feature: str
) -> tuple[Release, str]:
    """What production serves (the store's channel), else the working tree's release."""
    if store is not None and store.get_channel(feature, PRODUCTION) is not None:
        return resolve_ref(project, feature, PRODUCTION, store), f"{PRODUCTION} channel"
    try:
        return resolve_ref(project, feature, None), f"releases/{feature}"
    except RefError:
        raise RefError(f"unknown feature {feature!r}: no {PRODUCTION} channel in the store and "
                       f"no releases/{feature}/release.yaml") from None


def write_candidate(
    plan: UpgradePlan,
    target: Path,
    *,
    replace: bool = False,
    opt_out: Sequence[str] = (),
    until: dt.date | None = None,
) -> list[Path]:
    """The candidate's release files in `target` (checked to hash to its id), UPGRADE.md and
    the transition window's flags (units in `opt_out` keep the old release until `until`)."""
    written = export_release(plan.candidate, target, replace=replace)
    note = target / NOTE_FILE
    note.write_text(upgrade_note(plan), encoding="utf-8")
    flags = target / TRANSITION_FILE
    flags.write_text(transition_flags(plan, opt_out, until), encoding="utf-8")
    return sorted([*written, note, flags])


def pin_end(plan: UpgradePlan, until: dt.date | None) -> dt.date | None:
    """The pin's last day + 1: `until` if given (never past the old model's retirement, when
    the pin would route to a model the provider no longer serves), else that retirement."""
    retire = plan.old_retirement
    if until is None:
        return retire
    if retire is not None and until > retire:
        raise ConfigError(f"--pin-until {until}: {plan.base.spec.provider}/"
                          f"{plan.base.spec.model} retires on {retire}; pin until then at most")
    return until


def transition_flags(
    plan: UpgradePlan, opt_out: Sequence[str] = (), until: dt.date | None = None
) -> str:
    """A flags file keeping the old release for units that opt out, while the new one rolls out.

    The pin's rule holds while `request.date` (the gateway's day, UTC) is before its end —
    `until`, else the old model's retirement — so it stops applying on its own; after that
    `rampway models check` reports it as expired, to be removed.
    """
    feature, old = plan.feature, plan.base
    segment = f"{feature}-keeps-{old.spec.model}"[:200]
    end = pin_end(plan, until)
    ends = (f"The pin applies until {end} (exclusive), then those units follow production too"
            if end is not None else "The pin has no end: remove it after the rollout")
    if plan.old_retirement is not None:
        ends += f"; {old.spec.provider}/{old.spec.model} retires on {plan.old_retirement}"
    header = (
        f"# Transition window for {feature}: {plan.description.split(', reason:')[0]}.\n"
        f"# Units in the segment keep the old release {old.id} while the new model rolls out\n"
        f"# (the rollout's rollback target stays {old.id} too). {ends}.\n"
        f"# Copy into flags/ (merge by hand if {feature}.release exists), then "
        "`rampway flags push`.\n"
    )
    rule: dict[str, Any] = {"segment": segment, "value": old.id}
    if end is not None:
        rule = {"segment": segment, "condition": {DATE_PATH: {"$lt": end.isoformat()}},
                "value": old.id}
    doc = {
        "segments": {segment: {"ids": list(opt_out)}},
        "flags": {f"{feature}.release": {
            "type": "string",
            "default": PRODUCTION,
            "description": f"Pins units that opted out of the model upgrade to {old.id}.",
            "rules": [rule],
        }},
    }
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def upgrade_note(plan: UpgradePlan) -> str:
    """The pull-request text: what changed, why, what needs a look."""
    lines = [f"# {plan.feature}: {plan.description.split(', reason:')[0]}", "",
             f"- reason: {plan.reason}", f"- base: `{plan.base.id}`",
             f"- candidate: `{plan.candidate.id}`"]
    lines += [f"- {s.role}: {s.before} → {s.after or 'dropped'} ({s.reason})" for s in plan.swaps]
    lines += [f"- {p.render()}" for p in plan.params]
    lines += [f"- warning: {w}" for w in plan.warnings]
    lines += ["", f"Copy this directory over `releases/{plan.feature}/` on a branch (this file is "
              "not part of the release), and gate it: "
              f"`rampway gate {plan.feature} --candidate releases/{plan.feature}`.",
              "", f"Transition window: `{TRANSITION_FILE}` pins units that opt out to "
              f"`{plan.base.id}` (copy it into `flags/`)."]
    return "\n".join(lines) + "\n"


def store_draft(store: Store, plan: UpgradePlan, *, actor: str) -> bool:
    """Publish the candidate (on no channel) and record the upgrade; True if newly published."""
    cand = plan.candidate
    new = store.publish(cand.feature, cand.digest, cand.id, cand.canonical, actor=actor,
                        reason=plan.description)
    store.record_audit(actor=actor, action="model.upgrade", object_type="release",
                       object_id=cand.id, before={"release_id": plan.base.id},
                       after=plan.to_json(), reason=plan.description)
    return new


__all__ = [
    "NOTE_FILE",
    "TRANSITION_FILE",
    "pin_end",
    "production_release",
    "store_draft",
    "transition_flags",
    "upgrade_note",
    "write_candidate",
]
