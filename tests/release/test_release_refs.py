"""resolve_ref: working tree, paths, git revisions (read without checkout) and the store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from release_helpers import BASE_FILES, BASE_YAML, write_release_dir

from rampway.config import load_project
from rampway.errors import RefError, ReleaseError
from rampway.release import load_release, resolve_ref
from rampway.store import Store


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         check=True, env=env)
    return out.stdout.strip()


def test_none_is_the_working_tree(project_dir: Path) -> None:
    project = load_project(project_dir)
    assert resolve_ref(project, "bot", None) == load_release(project_dir / "releases" / "bot")
    with pytest.raises(RefError, match="no release in the working tree"):
        resolve_ref(project, "ghost", None)


def test_path_refs_relative_to_root_or_cwd(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = write_release_dir(project_dir / "history" / "bot" / "v1",
                           BASE_YAML.replace("sim-large", "sim-small"))
    project = load_project(project_dir)
    expected = load_release(v1, feature="bot")
    assert resolve_ref(project, "bot", "history/bot/v1") == expected
    monkeypatch.chdir(project_dir / "history")
    assert resolve_ref(project, "bot", "bot/v1") == expected
    assert resolve_ref(project, "bot", str(v1)).spec.model == "sim-small"


def test_unknown_ref_says_what_was_tried(project_dir: Path) -> None:
    with pytest.raises(RefError, match=r"unknown ref 'nope'.*directory.*git revision"):
        resolve_ref(load_project(project_dir), "bot", "nope")


@pytest.fixture
def git_project(tmp_path: Path) -> Path:
    """A git repo whose project sits in a subdirectory, with two commits of releases/bot."""
    repo = tmp_path / "repo"
    root = repo / "apps" / "shop"
    (root).mkdir(parents=True)
    (root / "rampway.yaml").write_text("providers: {sim: {kind: sim}}\n")
    write_release_dir(root / "releases" / "bot")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    (root / "releases/bot/prompts/system.md").write_text("You help {{ name }} politely.\n")
    _git(repo, "commit", "-q", "-am", "v2")
    return root


def test_git_revisions_read_history_without_touching_the_tree(git_project: Path) -> None:
    project = load_project(git_project)
    system = git_project / "releases/bot/prompts/system.md"
    system.write_text("uncommitted edit {{ name }}\n")
    working = resolve_ref(project, "bot", None)
    head = resolve_ref(project, "bot", "HEAD")
    previous = resolve_ref(project, "bot", "HEAD~1")
    assert previous.files["prompts/system.md"] == BASE_FILES["prompts/system.md"]
    assert head.files["prompts/system.md"] == "You help {{ name }} politely.\n"
    assert len({working.id, head.id, previous.id}) == 3
    assert resolve_ref(project, "bot", "main") == head
    sha = _git(git_project, "rev-parse", "HEAD~1")
    assert resolve_ref(project, "bot", sha[:10]) == previous
    assert system.read_text() == "uncommitted edit {{ name }}\n"  # no checkout happened


def test_git_release_matches_the_same_files_on_disk(git_project: Path, tmp_path: Path) -> None:
    project = load_project(git_project)
    (git_project / "releases/bot/prompts/system.md").write_text(BASE_FILES["prompts/system.md"])
    assert resolve_ref(project, "bot", "HEAD~1") == resolve_ref(project, "bot", None)


def test_git_errors(git_project: Path) -> None:
    project = load_project(git_project)
    with pytest.raises(RefError, match="no release at git revision"):
        resolve_ref(project, "other", "HEAD")
    with pytest.raises(RefError, match="unknown ref"):
        resolve_ref(project, "bot", "HEAD~5")
    with pytest.raises(RefError, match="unknown ref"):
        resolve_ref(project, "bot", "--output=/tmp/x")


def test_invalid_release_in_git_history_names_the_revision(git_project: Path) -> None:
    (git_project / "releases/bot/release.yaml").write_text(BASE_YAML + "bogus: 1\n")
    _git(git_project, "commit", "-q", "-am", "broken")
    with pytest.raises(ReleaseError, match=r"^HEAD:apps/shop/releases/bot/release.yaml:13: "):
        resolve_ref(load_project(git_project), "bot", "HEAD")


def test_store_refs_ids_prefixes_and_channels(project_dir: Path, store: Store) -> None:
    project = load_project(project_dir)
    release = resolve_ref(project, "bot", None)
    store.publish("bot", release.digest, release.id, release.canonical, actor="t", reason="test")
    assert resolve_ref(project, "bot", release.id, store) == release
    assert resolve_ref(project, "bot", release.digest[:6], store) == release
    store.set_channel("bot", "production", release.id, actor="t", reason="r")
    assert resolve_ref(project, "bot", "production", store) == release
    with pytest.raises(RefError, match=r"tried .*store \(unknown release 'staging'"):
        resolve_ref(project, "bot", "staging", store)
