"""The public surface of rampway.shadow is exactly what we mean to export (STYLE #12)."""

import types

import rampway.shadow as pkg

EXPECTED = {
    "Answer",
    "ClassRate",
    "Comparison",
    "Delta",
    "Exemplar",
    "FailureMode",
    "FlaggedClass",
    "Margins",
    "NoiseFloor",
    "Pair",
    "PairKind",
    "ShadowReport",
    "Thresholds",
    "ToolUse",
    "Verdict",
    "build_report",
    "class_scope",
    "compare",
    "difference_classes",
    "noise_floor",
    "render_markdown",
    "render_text",
    "similarity",
}


def test_exported_members() -> None:
    assert set(pkg.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(pkg, name) is not None
    # Submodules (model, compare, noise, report) appear as attributes once imported.
    public = {
        name
        for name, value in vars(pkg).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == EXPECTED, "export it in __all__ or make it private"
