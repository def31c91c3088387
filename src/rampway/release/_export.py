"""Write a stored release back as repo files, so a change made outside the repo (the admin API,
a dashboard edit) is reviewed in git like any other.

    export_release(release, Path("releases/support-bot"), replace=True)

The files are `release.yaml` (the normalized spec) and every prompt file the release holds. The
result is loaded back and must hash to the same id before anything replaces the target: an
export that would not reproduce the release is refused, never written half-way.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from rampway.errors import ConfigError, ReleaseError
from rampway.release._loader import RELEASE_FILE, load_release
from rampway.release._release import Release

HEADER = "# exported by `rampway release export` from {id}; edit and review like any release\n"


def write_files(release: Release, directory: Path) -> None:
    """release.yaml + prompt files under `directory` (which must exist)."""
    spec = yaml.safe_dump(release.spec.to_json(), sort_keys=False, allow_unicode=True)
    (directory / RELEASE_FILE).write_text(HEADER.format(id=release.id) + spec, encoding="utf-8")
    for rel, text in release.files.items():
        path = directory / rel
        if not path.resolve().is_relative_to(directory.resolve()):
            raise ReleaseError(f"{release.id}: file {rel!r} lies outside the release directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def export_release(release: Release, target: Path, *, replace: bool = False) -> list[Path]:
    """Write `release` into `target` (replacing it only with `replace`); the paths written."""
    if target.exists() and any(target.iterdir()) and not replace:
        raise ConfigError(f"{target} already holds files; pass --force to replace them")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        write_files(release, staging)
        again = load_release(staging, feature=release.feature)
        if again.id != release.id:
            raise ReleaseError(f"exported files hash to {again.id}, not {release.id}; "
                               "nothing was written")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in target.rglob("*") if p.is_file())


__all__ = ["export_release", "write_files"]
