"""The public surface of the model lifecycle package."""

import rampway.lifecycle as lifecycle


def test_exported_members() -> None:
    assert sorted(lifecycle.__all__) == sorted([
        "ParamChange", "Swap", "UpgradePlan", "plan_upgrade", "production_release",
        "store_draft", "transition_flags", "upgrade_note", "write_candidate",
    ])
    for name in lifecycle.__all__:
        assert getattr(lifecycle, name) is not None
