"""A SQLite URL into a missing directory is refused, not silently created (issue #12, item 8);
only rampway's own `.rampway/` directory (where the default database lives) is made on demand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.errors import ConfigError
from rampway.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def test_a_url_into_a_missing_directory_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"database directory .*/typo/deeper does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'typo' / 'deeper' / 'r.db'}")
    assert list(tmp_path.iterdir()) == []


def test_the_default_data_directory_is_created_inside_an_existing_project(
    tmp_path: Path,
) -> None:
    with Store.open(f"sqlite:///{tmp_path / '.rampway' / 'rampway.db'}"):
        pass
    assert (tmp_path / ".rampway" / "rampway.db").is_file()
    with pytest.raises(ConfigError):  # ... but not inside a project directory that is missing
        Store.open(f"sqlite:///{tmp_path / 'nowhere' / '.rampway' / 'rampway.db'}")
    assert not (tmp_path / "nowhere").exists()


def test_the_cli_refuses_an_explicit_url_in_one_line_and_creates_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("RAMPWAY_DB", f"sqlite:///{root / 'typo' / 'r.db'}")
    refused = CliRunner().invoke(app, ["release", "publish", "support-bot"])
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "database directory" in refused.stderr and "does not exist" in refused.stderr
    assert not (root / "typo").exists()
    monkeypatch.delenv("RAMPWAY_DB")
    published = CliRunner().invoke(app, ["release", "publish", "support-bot"])
    assert published.exit_code == 0, published.output
    assert (root / ".rampway" / "rampway.db").is_file()
