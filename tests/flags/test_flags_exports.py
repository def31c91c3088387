"""The public surface of rampway.flags is exactly what we mean to export (STYLE #12)."""

import rampway.flags as pkg

EXPECTED = {
    "ErrorCode",
    "Evaluation",
    "Flag",
    "FlagError",
    "FlagSet",
    "FlagType",
    "OPERATORS",
    "Reason",
    "Rule",
    "Segment",
    "Variation",
    "compile_condition",
    "load_flag_files",
}


def test_exported_members() -> None:
    assert set(pkg.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(pkg, name) is not None
    public = {name for name in vars(pkg) if not name.startswith("_")}
    assert public == EXPECTED, "export it in __all__ or make it private"
