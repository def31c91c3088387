"""The rollout plan's `requires: {shadow: NAME, min_pairs: N}`: shadow before 1%.

A rollout whose plan requires a shadow starts only when the latest shadow called NAME mirrored
the feature's real requests to this very candidate release at least `min_pairs` times (pairs of
kind `candidate`, whatever their outcome: errors are findings too). Refused otherwise with one
line saying how far it is, and nothing is written.

    check_shadow_requirement(store, "support-bot", "support-bot@9c1e…", "v3-on-prod", 500)
"""

from __future__ import annotations

from rampway.errors import RefError, StateConflict
from rampway.shadow import repo
from rampway.shadow.pairs import pair_counts
from rampway.store import Store


def check_shadow_requirement(
    store: Store, feature: str, candidate_id: str, shadow: str, min_pairs: int
) -> int:
    """The candidate pairs counted; StateConflict when fewer than `min_pairs`."""
    try:
        record = repo.latest(store, shadow)
    except RefError as exc:
        raise StateConflict(f"the plan requires shadow {shadow!r} (≥ {min_pairs} pairs of "
                            f"{candidate_id}), which was never started: rampway shadow start "
                            f"{shadow}") from exc
    if record.feature != feature:
        raise StateConflict(f"the plan requires shadow {shadow!r}, which mirrors "
                            f"{record.feature!r}, not {feature!r}")
    if candidate_id not in record.candidates:
        raise StateConflict(f"the plan requires shadow {shadow!r} of {candidate_id}, but it "
                            f"mirrors {', '.join(record.candidates)}")
    found = pair_counts(store, record, release_id=candidate_id)["candidate"]
    if found < min_pairs:
        raise StateConflict(f"the plan requires ≥ {min_pairs} shadow pairs of {candidate_id} "
                            f"(shadow {shadow!r}), only {found} so far: let it mirror longer "
                            f"(rampway shadow status {shadow})")
    return found


__all__ = ["check_shadow_requirement"]
