"""Fixtures for the release tests: small release directories and projects."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import BASE_YAML, CONFIG, WriteRelease, write_release_dir


@pytest.fixture
def write_release(tmp_path: Path) -> WriteRelease:
    """write_release(name="bot", yaml_text=..., files=...) → the release directory."""

    def write(name: str = "bot", yaml_text: str = BASE_YAML,
              files: dict[str, str] | None = None) -> Path:
        return write_release_dir(tmp_path / "rel" / name, yaml_text, files)

    return write


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project with rampway.yaml and one feature `bot` under releases/."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "rampway.yaml").write_text(CONFIG, encoding="utf-8")
    write_release_dir(root / "releases" / "bot")
    return root
