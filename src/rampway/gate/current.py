"""The policy and eval suite `rampway gate FEATURE` would decide under now, read from the repo.

A recorded pass vouches only for the policy and suite it was decided under. Before a rollout
trusts it, the caller that has the project compares the record's digests with these:

    basis = current_basis(project.root, "support-bot")
    basis.policy, basis.policy_digest      # "policies/support-bot.yaml", "9c1e…"
    basis.suite, basis.suite_digest        # "evals/support-bot/suite.yaml", "5e0d…"

The files, the checks and the digests are the ones `gate_feature` uses (`require_suite`,
`load_policy`, `policy_digest`; a suite's digest is what its eval runs record), so an unchanged
repo reproduces a recorded gate's digests exactly. Loading the suite imports its Python
scorers, as `rampway gate` does.
"""

from __future__ import annotations

from pathlib import Path

from rampway.errors import ConfigError
from rampway.evals.suite import require_suite, suite_path
from rampway.gate.records import GateBasis, policy_digest
from rampway.gate.run import load_policy


def current_basis(project_root: Path, feature: str) -> GateBasis:
    """The feature's policy and suite as `rampway gate` would load them now.

    A missing or broken suite or policy is not raised but kept as the basis' `problem` (the
    error `rampway gate` would stop with): whether it matters is the caller's decision — a
    rollout with no passing gate is refused for that first, one with a pass cannot have it
    checked.
    """
    shown = str(suite_path(project_root, feature).relative_to(project_root))
    try:
        suite = require_suite(project_root, feature)
        policy, source = load_policy(project_root, feature, suite)
    except ConfigError as exc:
        return GateBasis("", "", shown, "", problem=exc.message)
    return GateBasis(source, policy_digest(policy), shown, suite.digest)


__all__ = ["current_basis"]
