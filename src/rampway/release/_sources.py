"""Where a release's files come from: a directory, a git revision, or a canonical text.

All three answer the same question — "the text of `release.yaml` / `prompts/x.md`, or None if it
does not exist" — so loading and validation are written once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from rampway.errors import ReleaseError

GIT_TIMEOUT_S = 30.0


def normalize_text(raw: bytes, *, file: str) -> str:
    """UTF-8 (BOM dropped) with `\\n` line endings, so a checkout on Windows hashes the same."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReleaseError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", file=file) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Source(Protocol):
    def read(self, relpath: str) -> str | None:
        """Normalized text of the file, or None if it does not exist."""
        ...

    def display(self, relpath: str) -> str:
        """How error messages name the file."""
        ...


class DirSource:
    """A release directory on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, relpath: str) -> str | None:
        path = self.directory / relpath
        if not path.is_file():
            return None
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ReleaseError(f"cannot read: {exc.strerror}", file=self.display(relpath)) from exc
        return normalize_text(raw, file=self.display(relpath))

    def display(self, relpath: str) -> str:
        """Relative to the working directory when inside it (as typed), else absolute."""
        path = (self.directory / relpath).absolute()
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)


class MappingSource:
    """Files held in memory (the `files` of a canonical text)."""

    def __init__(self, files: Mapping[str, str], label: str) -> None:
        self.files = files
        self.label = label

    def read(self, relpath: str) -> str | None:
        return self.files.get(relpath)

    def display(self, relpath: str) -> str:
        return f"{self.label}:{relpath}"


class GitSource:
    """A release directory as it was at one commit, read with `git show` (no checkout)."""

    def __init__(self, repo_dir: Path, commit: str, rev_label: str, repo_path: str) -> None:
        self.repo_dir = repo_dir
        self.commit = commit
        self.rev_label = rev_label
        self.repo_path = repo_path.rstrip("/")

    def read(self, relpath: str) -> str | None:
        spec = f"{self.commit}:{self.repo_path}/{relpath}"
        proc = run_git(self.repo_dir, "cat-file", "blob", spec)
        if proc is None or proc.returncode != 0:
            return None
        return normalize_text(proc.stdout, file=self.display(relpath))

    def display(self, relpath: str) -> str:
        return f"{self.rev_label}:{self.repo_path}/{relpath}"


def run_git(repo_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """Run git; None when git itself is missing or hangs (callers treat it as 'not a git ref')."""
    try:
        return subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


__all__ = ["DirSource", "GitSource", "MappingSource", "Source", "normalize_text", "run_git"]
