"""The public surface other components code against."""

import rampway.release as release


def test_exported_members() -> None:
    assert sorted(release.__all__) == sorted([
        "INPUT_VARIABLE", "RELEASES_DIR", "RELEASE_FILE", "FieldChange", "FileChange",
        "Release", "ReleaseDiff", "ReleaseSpec", "Routing", "check_release", "diff_releases",
        "discover", "load_checked", "load_release", "resolve_ref",
    ])
    for name in release.__all__:
        assert getattr(release, name) is not None
