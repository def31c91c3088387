"""The starter project `rampway init` writes: the `assistant` feature's release, an eval suite
and a gate policy, on the in-process simulator — so that `rampway init && rampway release
publish && rampway gate assistant --candidate releases/assistant` works in an empty directory.

The files live next to this module under `project/` (shipped as package data) so they are
reviewed like any other release files; tests check the result validates and that sequence
passes (tests/cli/test_cli_starter.py).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from rampway.errors import ConfigError

GITIGNORE = ".rampway/\n"


def scaffold_files() -> dict[str, str]:
    """Relative path → text of every file of the starter project."""
    root = files("rampway.scaffold").joinpath("project")
    out: dict[str, str] = {}
    _collect(root, "", out)
    out[".gitignore"] = GITIGNORE
    return dict(sorted(out.items()))


def _collect(node: Traversable, prefix: str, out: dict[str, str]) -> None:
    for child in node.iterdir():
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            _collect(child, rel + "/", out)
        elif child.is_file() and not child.name.endswith((".pyc", ".py")):
            out[rel] = child.read_text(encoding="utf-8")


def write_scaffold(dest: Path) -> list[str]:
    """Write the starter project into `dest`; refuses (writing nothing) if any file exists."""
    planned = scaffold_files()
    clashes = [rel for rel in planned if (dest / rel).exists()]
    if (dest / "rampway.yaml").exists():
        raise ConfigError(f"{dest / 'rampway.yaml'} already exists: {dest} is already a project")
    if clashes:
        raise ConfigError(f"{dest / clashes[0]} already exists; init writes only into new paths")
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} exists and is not a directory")
    for rel, text in planned.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(planned)


__all__ = ["scaffold_files", "write_scaffold"]
