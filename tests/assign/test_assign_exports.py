"""The public surface of rampway.assign is exactly what we mean to export (STYLE #12)."""

import rampway.assign as pkg

EXPECTED = {
    "Allocation",
    "BUCKETS",
    "assign",
    "bucket",
    "bucket_from_state",
    "cached_bucket",
    "fnv1a32",
    "hash_v1",
    "hash_v2",
    "salt_state",
}


def test_exported_members() -> None:
    assert set(pkg.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(pkg, name) is not None
    public = {name for name in vars(pkg) if not name.startswith("_")}
    assert public == EXPECTED, "export it in __all__ or make it private"
