"""Sticky, deterministic assignment of units (users, sessions) to arms.

`bucket(salt, unit)` is GrowthBook's v2 hash (exact algorithm in `rampway.assign._hash`), so a
split configured in GrowthBook lands the same users in the same buckets here. `Allocation` lays
arms out on the 10,000 buckets so that growing a candidate's weight never moves its units away.
Pure functions: no I/O, no clock, no global state except a bounded memo of recent buckets.
"""

from rampway.assign._allocation import Allocation, assign
from rampway.assign._hash import (
    BUCKETS,
    bucket,
    bucket_from_state,
    cached_bucket,
    fnv1a32,
    hash_v1,
    hash_v2,
    salt_state,
)

__all__ = [
    "BUCKETS",
    "Allocation",
    "assign",
    "bucket",
    "bucket_from_state",
    "cached_bucket",
    "fnv1a32",
    "hash_v1",
    "hash_v2",
    "salt_state",
]
