"""Protected channels: what a channel needs before it may point at a release.

`rampway channel set` and the admin API's channel PUT move 100% of a channel's traffic at once,
so on a protected channel they need what a rollout needs: a recorded gate PASS of the release
against the one the channel serves now, under the repo's current policy and suite (the very
check `rampway rollout start` makes, `rampway.rollout.gating.require_gate`), and/or a recorded
approval (`rampway release approve`). rampway.yaml says which channel needs what:

    channels:
      production: {require: [gate]}           # the default when production is not listed
      staging:    {require: [gate, approval]}
      sandbox:    {require: []}               # listed channels are unprotected with []

An empty channel (a feature's first release) has nothing to gate against and is not protected.
`--skip-gate --reason "…"` overrides (an admin key on the API); the override is audited.
`rampway rollback` to the previous release never passes through here: it is never blocked.

A `<feature>.release` flag is a move by other means: it serves the release it pins in place of
production to every request its rule matches, so `guard_pin` asks of each pinned release what
`guard_move` asks of production (a release production serves or served before passes — pinning
back is a rollback). A pin has no override: move the channel itself with `--skip-gate`.

A `<feature>.model` flag is one too: it serves production's release with another model. That
is the release `model_swap` builds (production's, `model:` edited — what a human would change
in `releases/<feature>/release.yaml` to ship the model for good), and `guard_model` asks of it
what `guard_pin` asks of a pinned release: gate it with `rampway gate FEATURE --candidate
releases/FEATURE` once the file says that model. Unlike a pin there is no channel to move
instead, so the flag write itself takes `--skip-gate --reason` (admin key on the API), audited
as `flag.skip_gate`.

Split as everywhere: `decide` is pure over what was read; `guard_move` reads and calls it.

Example:
    need = requirements(project.config, "production")    # Requirements(gate=True, …)
    guard_move(store, project, "support-bot", "production", "support-bot@3f2a9c1e", None)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rampway._reason import require_reason
from rampway.errors import ChannelProtected, ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from rampway.config import Project, ProjectConfig
    from rampway.gate.records import GateBasis, GateRecord
    from rampway.release._release import Release
    from rampway.store import Store

APPROVE_ACTION = "release.approve"
DEFAULT_PROTECTED = {"production": ("gate",)}
PINNED_OVER = "production"  # what a `.release` flag serves in place of (the gateway's default)
_OVERRIDE = " (or override with --skip-gate --reason \"…\")"


@dataclass(frozen=True, slots=True)
class Requirements:
    channel: str
    gate: bool = False
    approval: bool = False

    @property
    def protected(self) -> bool:
        return self.gate or self.approval


def requirements(config: ProjectConfig | None, channel: str) -> Requirements:
    """What `channel` requires under this config (None: no project — the defaults)."""
    listed = None if config is None else config.channels.get(channel)
    need: Sequence[str] = (
        DEFAULT_PROTECTED.get(channel, ()) if listed is None else listed.require
    )
    return Requirements(channel, gate="gate" in need, approval="approval" in need)


@dataclass(frozen=True, slots=True)
class MoveFacts:
    """What was read about one proposed move (everything `decide` needs)."""

    feature: str
    release: str  # the release id the channel would point at
    serving: str | None  # the release id the channel points at now (None: empty channel)
    latest_gate: GateRecord | None
    basis: GateBasis | None  # the repo's current policy and suite; None: not readable here
    approvals: tuple[str, ...] = ()  # actors who approved the release
    release_ref: str = ""  # how the user named the release, for the `rampway gate` hint


def decide(need: Requirements, facts: MoveFacts, skip_reason: str | None) -> dict[str, Any]:
    """What the move was allowed on (kept in the audit log), or ChannelProtected saying what to
    run. Pure."""
    if not need.protected or facts.serving is None or facts.serving == facts.release:
        return {"protected": need.protected, "checked": []}
    if skip_reason is not None:
        require_reason(skip_reason, "skipping the gate")
        return {"protected": True, "skipped": True, "reason": skip_reason}
    out: dict[str, Any] = {"protected": True, "checked": []}
    where = f"channel '{need.channel}' of {facts.feature} is protected"
    if need.gate:
        out["gate"] = _gate(need, facts, where)
        out["checked"].append("gate")
    if need.approval:
        if not facts.approvals:
            raise ChannelProtected(
                f"{where} and {facts.release} has no recorded approval: run `rampway release "
                f"approve {facts.feature} {facts.release_ref or facts.release} --reason \"…\"` "
                "(or override with "
                "--skip-gate --reason \"…\")"
            )
        out["approved_by"] = list(facts.approvals)
        out["checked"].append("approval")
    return out


def _gate(need: Requirements, facts: MoveFacts, where: str) -> dict[str, Any]:
    from rampway.rollout.gating import GateNeed, require_gate

    assert facts.serving is not None  # decide() returned early otherwise
    gate_need = GateNeed(facts.feature, facts.release, facts.serving, need.channel,
                         facts.release_ref, facts.basis)
    try:
        return require_gate(facts.latest_gate, need=gate_need)
    except ChannelProtected:
        raise
    except ConfigError as exc:
        message = exc.message.replace("; a rollout needs a PASS", "; it needs a PASS")
        raise ChannelProtected(f"{where}: {message}") from exc


def read_facts(
    store: Store,
    project: Project | None,
    feature: str,
    release_id: str,
    need: Requirements,
    release_ref: str = "",
) -> MoveFacts:
    """Read what `decide` needs (the gate record and current basis only when it asks)."""
    from rampway.gate.current import current_basis
    from rampway.gate.records import latest_gate

    state = store.get_channel(feature, need.channel)
    serving = None if state is None else state.release_id
    latest = basis = None
    if need.gate and serving is not None and serving != release_id:
        latest = latest_gate(store, feature, release_id, serving)
        basis = None if project is None else current_basis(project.root, feature)
    approvals: tuple[str, ...] = ()
    if need.approval:
        entries = store.list_audit(object_type="release", object_id=release_id, limit=1000)
        approvals = tuple(sorted({e.actor for e in entries if e.action == APPROVE_ACTION}))
    return MoveFacts(feature, release_id, serving, latest, basis, approvals, release_ref)


def guard_move(
    store: Store,
    project: Project | None,
    feature: str,
    channel: str,
    release_id: str,
    skip_reason: str | None,
    release_ref: str = "",
) -> dict[str, Any]:
    """Refuse (ChannelProtected) a move the channel's requirements rule out; return what it was
    allowed on, for the audit log. `release_ref` (a path, say) names an unpublished release in
    the hint."""
    need = requirements(None if project is None else project.config, channel)
    if not need.protected:
        return {"protected": False, "checked": []}
    facts = read_facts(store, project, feature, release_id, need, release_ref)
    return decide(need, facts, skip_reason)


def guard_pin(
    conn: Connection, store: Store, project: Project, feature: str, release_id: str,
) -> None:
    """Refuse (ChannelProtected) pinning `release_id` over production unless production could
    be moved there (see the module docstring). Reads inside `conn`'s transaction: a flag write
    holds the control-version lock while it validates."""
    try:
        _over_production(conn, store, project, feature, release_id, None)
    except ChannelProtected as exc:
        message = exc.message.replace(_OVERRIDE, "")
        raise ChannelProtected(f"{message} (a pin has no --skip-gate: move '{PINNED_OVER}' "
                               "itself with it, audited)") from exc


def model_swap(release: Release, provider: str, model: str) -> Release:
    """`release` with its primary model replaced — what a `<feature>.model` flag serving
    `provider/model` over it amounts to, and what a human edits `model:` to in the release's
    file to ship that model for good (a fallback equal to the new primary is dropped, as the
    release schema refuses a repeat). ConfigError when the result is not a valid release."""
    from pydantic import ValidationError

    from rampway.release._release import Release as Built
    from rampway.release._spec import ReleaseSpec

    data = release.spec.to_json()
    data.update(provider=provider, model=model,
                fallbacks=[f for f in data.get("fallbacks") or [] if f != f"{provider}/{model}"])
    try:
        return Built(release.feature, ReleaseSpec.model_validate(data), release.files)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{release.id} with model {provider}/{model} is not a valid "
                          f"release: {first.get('msg', 'invalid')}") from exc


def guard_model(
    conn: Connection, store: Store, project: Project, feature: str, value: str,
    skip_reason: str | None,
) -> dict[str, Any] | None:
    """Refuse (ChannelProtected) a `<feature>.model` flag value that production could not be
    moved to: the release production serves with that model (`model_swap`) needs what a move
    of production to it needs — a gate PASS of that release against production's (`rampway
    gate FEATURE --candidate releases/FEATURE` once `model:` says so), an approval where
    required — unless `skip_reason` overrides (audited by the caller). None when there is
    nothing to judge (no production yet, the model production already uses, or production
    served that release before); else what the value was allowed on."""
    import sqlalchemy as sa

    from rampway.flags.native import parse_model
    from rampway.release._release import Release as Built
    from rampway.store.schema import channels, releases

    row = conn.execute(sa.select(releases.c.release_id, releases.c.canonical).join(
        channels, channels.c.release_id == releases.c.release_id).where(
        channels.c.feature == feature, channels.c.name == PINNED_OVER)).first()
    if row is None:
        return None
    serving = Built.from_canonical(row.canonical)
    provider, model = parse_model(value)
    target = (provider or serving.models[0][0], model)
    if target == serving.models[0]:
        return None
    swapped = model_swap(serving, *target)
    try:
        return _over_production(conn, store, project, feature, swapped.id, skip_reason,
                                f"releases/{feature}")
    except ChannelProtected as exc:
        raise ChannelProtected(
            f"serving {target[0]}/{target[1]} in place of production's {serving.id} amounts "
            f"to release {swapped.id} (that release with `provider: {target[0]}`, `model: "
            f"{target[1]}` in its release.yaml); {exc.message}") from exc


def _over_production(
    conn: Connection, store: Store, project: Project, feature: str, release_id: str,
    skip_reason: str | None, release_ref: str = "",
) -> dict[str, Any] | None:
    """What `decide` says of serving `release_id` in place of production (None: production
    serves or served it, or is empty or unprotected — a rollback is never blocked)."""
    import sqlalchemy as sa

    from rampway.gate.current import current_basis
    from rampway.gate.records import latest_gate
    from rampway.store.schema import audit_log, channel_history, channels

    need = requirements(project.config, PINNED_OVER)
    if not need.protected:
        return None
    serving = conn.scalar(sa.select(channels.c.release_id).where(
        channels.c.feature == feature, channels.c.name == need.channel))
    h = channel_history.c
    served = conn.scalar(sa.select(h.id).where(
        h.feature == feature, h.channel == need.channel, h.to_release == release_id).limit(1))
    if serving is None or serving == release_id or served is not None:
        return None
    latest = basis = None
    if need.gate and skip_reason is None:
        latest = latest_gate(store, feature, release_id, serving, conn=conn)
        basis = current_basis(project.root, feature)
    approvals: tuple[str, ...] = ()
    if need.approval:
        a = audit_log.c
        approvals = tuple(sorted(set(conn.scalars(sa.select(a.actor).where(
            a.object_type == "release", a.object_id == release_id,
            a.action == APPROVE_ACTION)))))
    facts = MoveFacts(feature, release_id, serving, latest, basis, approvals, release_ref)
    return decide(need, facts, skip_reason)


def record_override(
    store: Store, *, actor: str, feature: str, channel: str, release_id: str, reason: str
) -> None:
    """The audit row of a `--skip-gate` move onto a protected channel."""
    store.record_audit(
        actor=actor, action="channel.skip_gate", object_type="channel",
        object_id=f"{feature}/{channel}", before=None,
        after={"release_id": release_id}, reason=reason,
    )


def approve(store: Store, *, actor: str, feature: str, release_id: str, reason: str) -> None:
    """Record an approval of a published release (what `require: [approval]` looks for)."""
    require_reason(reason, f"approving {release_id}")
    store.record_audit(
        actor=actor, action=APPROVE_ACTION, object_type="release", object_id=release_id,
        before=None, after={"feature": feature}, reason=reason,
    )


__all__ = [
    "APPROVE_ACTION",
    "MoveFacts",
    "Requirements",
    "approve",
    "decide",
    "guard_model",
    "guard_move",
    "guard_pin",
    "model_swap",
    "read_facts",
    "record_override",
    "requirements",
]
