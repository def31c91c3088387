"""What a rollout requires of the release gate (pure: the controller reads, this decides).

A rollout starts from a release that passed its gate: the newest recorded gate decision on
exactly (candidate, baseline) — the release the plan's baseline channel serves now — must be
a pass. A fail or inconclusive newest decision refuses just like no decision at all. A human may
override with a reason, which the rollout keeps and the audit log records:

    snapshot = require_gate(latest, need=GateNeed("support-bot", cand, base, "production"))
    snapshot = require_gate(None, need=need, skip_reason="hotfix for a P0; gate is broken")

A pass counts only under the policy and eval suite the repo has now: `GateNeed.current` (what
`rampway gate FEATURE` would decide under, read by the caller with
`rampway.gate.current.current_basis`) must match the digests the pass was recorded with, else
the start is refused, naming what changed (policy, suite or both) since that gate and the
command that decides again; a policy or suite that cannot be read leaves the pass unchecked,
which refuses too. A pass under a laxer policy or an older suite says nothing about the current
one. Who can read the repo checks it: `rampway rollout start` and the admin API (through the
served project) always do; a caller that cannot
(a `Controller` built without `project_root`, e.g. for a server without a project) passes
`current=None`: the snapshot then lacks `"basis_checked": true`, and `rollout status` says the
policy and suite were not checked (as for rollouts started before the check existed) — never a
silent skip.

A feature with no release in its baseline channel yet has nothing to gate against and is not
rolled out at all: its first release goes to production with `rampway channel set` (the
controller refuses that case before the gate is looked at).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rampway._reason import require_reason
from rampway.errors import ConfigError

if TYPE_CHECKING:
    from rampway.gate.records import GateBasis, GateRecord

PASSED = "pass"


@dataclass(frozen=True, slots=True)
class GateNeed:
    """The pair a rollout needs a passing gate on, and how to name it in the hint."""

    feature: str
    candidate: str  # release id
    baseline: str  # release id the baseline channel serves
    channel: str  # the baseline channel, e.g. production
    candidate_ref: str = ""  # how `rampway gate` can find the candidate (default: its id)
    current: GateBasis | None = None  # the repo's policy and suite now; None: not read

    def command(self) -> str:
        ref = self.candidate_ref or self.candidate
        return (f"rampway gate {shlex.quote(self.feature)} --candidate {shlex.quote(ref)} "
                f"--baseline {shlex.quote(self.baseline)}")


def require_gate(
    latest: GateRecord | None, *, need: GateNeed, skip_reason: str | None = None
) -> dict[str, Any]:
    """The gate part of a new rollout (kept on its row), or a ConfigError saying what to run."""
    if skip_reason is not None:
        require_reason(skip_reason, "skipping the gate")
        return {"skipped": True, "reason": skip_reason,
                "latest": None if latest is None else latest.brief()}
    if latest is None or latest.verdict.value != PASSED:
        raise ConfigError(refusal(latest, need))
    if need.current is not None and need.current.problem:
        raise ConfigError(unreadable(latest, need, need.current.problem))
    if need.current is not None and changed_since(latest, need.current):
        raise ConfigError(outdated(latest, need, need.current))
    checked = {} if need.current is None else {"basis_checked": True}
    return {"skipped": False, **latest.brief(), **checked}


def changed_since(latest: GateRecord, current: GateBasis) -> list[str]:
    """What differs from the basis `latest` was decided under: [], ["policy"], ["suite"], both.

    By content digest, not by name: a policy file that spells out the default policy is the
    same policy. A record without a suite digest matches no suite.
    """
    changed = []
    if latest.policy_digest != current.policy_digest:
        changed.append("policy")
    if latest.suite_digest != current.suite_digest:
        changed.append("suite")
    return changed


def outdated(latest: GateRecord, need: GateNeed, current: GateBasis) -> str:
    """One line: the pass predates the current policy and/or suite; the command that re-decides."""
    parts = changed_since(latest, current)
    policy = current.policy if latest.policy == current.policy else (
        f"{current.policy} (was {latest.policy})")
    what = " and ".join(
        f"the gate policy {policy}" if part == "policy" else f"the eval suite {current.suite}"
        for part in parts)
    when = latest.at.strftime("%Y-%m-%d %H:%M UTC")
    return (f"{what} changed since candidate {need.candidate} passed its gate against "
            f"'{need.channel}' ({need.baseline}) on {when} (#{latest.id}): gate it again with "
            f"`{need.command()}` (or override with --skip-gate --reason \"…\")")


def unreadable(latest: GateRecord, need: GateNeed, problem: str) -> str:
    """One line: the pass cannot be checked because the current policy or suite is unreadable."""
    return (f"cannot tell whether gate #{latest.id} (candidate {need.candidate} passed against "
            f"'{need.channel}') holds under the current policy and suite: {problem}; fix that, "
            f"then run `{need.command()}` (or override with --skip-gate --reason \"…\")")


def refusal(latest: GateRecord | None, need: GateNeed) -> str:
    """One line: why the start is refused, the command that fixes it, and the override."""
    against = f"against '{need.channel}' ({need.baseline})"
    if latest is None:
        why = f"candidate {need.candidate} has no recorded gate {against}"
    else:
        when = latest.at.strftime("%Y-%m-%d %H:%M UTC")
        why = (f"the latest gate of candidate {need.candidate} {against} is "
               f"{latest.verdict.value.upper()} (#{latest.id}, {when}); a rollout needs a PASS")
    return (f"{why}: run `{need.command()}` first "
            "(or override with --skip-gate --reason \"…\")")


def describe(gate: dict[str, Any] | None) -> str:
    """The gate line of `rollout status`: 'pass (#3, policies/x.yaml, …)' or 'skipped: why'."""
    if gate is None:
        return "not recorded (the rollout started before rampway recorded gates)"
    if gate.get("skipped"):
        latest = gate.get("latest")
        seen = "" if not latest else f" (latest gate then: {latest['verdict']} #{latest['id']})"
        return f"skipped: {gate.get('reason', '')}{seen}"
    unchecked = "" if gate.get("basis_checked") else (
        "; policy and suite not checked against the repo")
    return (f"{gate['verdict']} (#{gate['id']}, {gate['policy']}, by {gate['actor']} "
            f"at {gate['at']}{unchecked})")


__all__ = [
    "GateNeed",
    "changed_since",
    "describe",
    "outdated",
    "refusal",
    "require_gate",
    "unreadable",
]
