"""The public surface of rampway.flags is exactly what we mean to export (STYLE #12)."""

import types

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
    # Submodules (store, serving, tables, native) appear as attributes once imported.
    public = {
        name
        for name, value in vars(pkg).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == EXPECTED, "export it in __all__ or make it private"
