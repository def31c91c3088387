"""What an experiment start requires of the release gate: what `rollout start` requires.

An experiment arm serves its release to real users, like a rollout's candidate, so each arm
whose release is not what production serves now needs the newest recorded gate decision on
(that release, production's) to be a PASS under the repo's current policy and suite — the
very check `rampway.rollout.gating.require_gate` makes for a rollout. The arm serving
production (the control, usually) needs nothing; a control arm on another release is gated
like any arm: it reaches users too. `--skip-gate --reason` (`skip_gate` + `reason` on the
admin API) overrides for every arm at once; the experiment's start audit row keeps what each
arm was allowed on, and an `experiment.gate_skipped` row names the override.

Routability is not here: every road resolves arms through the routability check first
(`routable_release` in the CLI, `StartedRoutes.release` in the API).

Example:
    gates = require_arm_gates(store, "support-bot", [("control", prod, "production"),
                                                     ("friendly", cand, "releases/support-bot")],
                              project_root=root)
    # {"friendly": {"skipped": False, "verdict": "pass", "id": 7, …}}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rampway.errors import ConfigError, RefError
from rampway.experiments.repo import CHANNEL

if TYPE_CHECKING:
    from rampway.store import Store


def require_arm_gates(
    store: Store,
    feature: str,
    arms: Sequence[tuple[str, str, str]],
    *,
    project_root: Path | None,
    skip_reason: str | None = None,
) -> dict[str, dict[str, Any]]:
    """arm name → its gate snapshot, for each (name, release id, ref as the user wrote it)
    not serving production's release; ConfigError naming the arm and the command that fixes
    it. Without `project_root` the policy and suite are not checked (as for a rollout)."""
    from rampway.gate.current import current_basis
    from rampway.gate.records import latest_gate
    from rampway.rollout.gating import GateNeed, require_gate

    production = store.get_channel(feature, CHANNEL)
    if production is None:
        raise RefError(f"feature {feature!r} has no '{CHANNEL}' channel; set it first "
                       f"(rampway channel set {feature} {CHANNEL} REF)")
    baseline = production.release_id
    basis = (None if skip_reason is not None or project_root is None
             else current_basis(project_root, feature))
    out: dict[str, dict[str, Any]] = {}
    for name, release_id, ref in arms:
        if release_id == baseline:
            continue
        need = GateNeed(feature, release_id, baseline, CHANNEL, ref, basis)
        latest = latest_gate(store, feature, release_id, baseline)
        try:
            out[name] = require_gate(latest, need=need, skip_reason=skip_reason)
        except ConfigError as exc:
            if skip_reason is not None:
                raise
            message = exc.message.replace("a rollout needs a PASS", "an experiment arm needs a "
                                          "PASS")
            raise ConfigError(f"arm {name!r}: {message}") from exc
    return out


def skipped(gates: dict[str, dict[str, Any]]) -> bool:
    return any(g.get("skipped") for g in gates.values())


__all__ = ["require_arm_gates", "skipped"]
