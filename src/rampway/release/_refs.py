"""Turning a user's REF into a Release: working tree, path, store id/channel, or git revision.

    resolve_ref(project, "support-bot", None)          # releases/support-bot/ as it is now
    resolve_ref(project, "support-bot", "history/support-bot/v1")   # any dir with release.yaml
    resolve_ref(project, "support-bot", "3f2a9c1e", store)          # a published id or prefix
    resolve_ref(project, "support-bot", "production", store)        # a channel
    resolve_ref(project, "support-bot", "HEAD~1")      # releases/support-bot/ at that commit

Tried in that order; the first that matches wins (a channel named like a branch shadows the
branch). Git history is read with `git cat-file` — no checkout, the working tree is untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rampway.errors import ConfigError, RefError, StoreError
from rampway.release._loader import (
    RELEASE_FILE,
    RELEASES_DIR,
    check_feature_name,
    load_from_source,
    load_release,
)
from rampway.release._release import Release
from rampway.release._sources import GitSource, run_git

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.store import Store


def resolve_ref(
    project: Project, feature: str, ref: str | None, store: Store | None = None
) -> Release:
    """The release of `feature` that `ref` names; RefError listing what was tried if none."""
    check_feature_name(feature)
    if ref is None:
        return _working_tree(project, feature)
    ref = ref.strip()
    if not ref:
        raise RefError("empty ref")
    directory = release_dir_for(project, ref)
    if directory is not None:
        return load_release(directory, feature=feature)
    tried = ["a directory with release.yaml"]
    if store is not None:
        found, why = _from_store(store, feature, ref)
        if found is not None:
            return found
        tried.append(f"a channel or release id in the store ({why})")
    found = _from_git(project, feature, ref)
    if found is not None:
        return found
    tried.append("a git revision")
    raise RefError(f"unknown ref {ref!r} for feature {feature!r}: tried {', '.join(tried)}")


def release_dir_for(project: Project, ref: str) -> Path | None:
    """`ref` as a release directory: relative to the cwd first, then to the project root."""
    for base in (Path.cwd(), project.root):
        candidate = base / ref
        if (candidate / RELEASE_FILE).is_file():
            return candidate
    return None


def _working_tree(project: Project, feature: str) -> Release:
    directory = project.root / RELEASES_DIR / feature
    if not (directory / RELEASE_FILE).is_file():
        raise RefError(
            f"feature {feature!r} has no release in the working tree "
            f"({RELEASES_DIR}/{feature}/{RELEASE_FILE} not found)"
        )
    return load_release(directory, feature=feature)


def _from_store(store: Store, feature: str, ref: str) -> tuple[Release | None, str]:
    """A channel of that name, else a release id/prefix; (None, why-not) when neither."""
    state = store.get_channel(feature, ref)
    release_ref = ref if state is None else state.release_id
    try:
        record = store.get_release(feature, release_ref)
    except RefError as exc:
        return None, exc.message
    release = Release.from_canonical(record.canonical)
    if release.id != record.release_id:
        raise StoreError(
            f"stored release {record.release_id} does not hash to its id (got {release.id}); "
            "the stored canonical text was altered"
        )
    return release, ""


def _from_git(project: Project, feature: str, ref: str) -> Release | None:
    """The release as of git revision `ref`, or None if `ref` is not a revision here."""
    if ref.startswith("-"):
        return None  # never let a ref be read as a git option
    commit = run_git(project.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit is None or commit.returncode != 0:
        return None
    prefix = run_git(project.root, "rev-parse", "--show-prefix")
    if prefix is None or prefix.returncode != 0:
        return None
    sha = commit.stdout.decode().strip()
    repo_path = f"{prefix.stdout.decode().strip()}{RELEASES_DIR}/{feature}"
    source = GitSource(project.root, sha, ref, repo_path)
    if source.read(RELEASE_FILE) is None:
        raise RefError(f"feature {feature!r} has no release at git revision {ref!r} ({repo_path})")
    return load_from_source(feature, source)


def require_revision(project: Project, rev: str, option: str = "--changed-since") -> str:
    """The commit `rev` names, or ConfigError saying why not and how to fix it.

    "Changed since REV" against a REV git cannot find must never read as "nothing changed":
    in CI that is a shallow clone (actions/checkout fetches one commit by default) or a typo,
    and either would turn an ungated change into a green check.
    """
    rev = rev.strip()
    if not rev or rev.startswith("-"):
        raise ConfigError(f"{option}: {rev!r} is not a git revision")
    commit = run_git(project.root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if commit is not None and commit.returncode == 0:
        return commit.stdout.decode().strip()
    inside = run_git(project.root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0:
        raise ConfigError(f"{option} {rev}: {project.root} is not in a git repository")
    shallow = run_git(project.root, "rev-parse", "--is-shallow-repository")
    is_shallow = shallow is not None and shallow.stdout.decode().strip() == "true"
    why = "this clone is shallow and does not have it" if is_shallow else "no such revision"
    raise ConfigError(
        f"{option} {rev}: unknown git revision ({why}); fetch the history "
        "(actions/checkout with `fetch-depth: 0`, or `git fetch origin`) or fix the name"
    )


__all__ = ["release_dir_for", "require_revision", "resolve_ref"]
