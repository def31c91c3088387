"""Where the database is: RAMPWAY_DB > rampway.yaml > .rampway/rampway.db under the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.errors import ConfigError
from rampway.store import default_url, parse_url, resolve_url


def test_default_is_an_absolute_sqlite_file_under_the_project(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/.rampway/rampway.db"
    assert default_url(Path(".")).startswith("sqlite:////")


def test_env_beats_config_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    assert resolve_url(tmp_path, None) == default_url(tmp_path)
    assert resolve_url(tmp_path, "  ") == default_url(tmp_path)
    assert resolve_url(tmp_path, "postgresql://u@h/db") == "postgresql://u@h/db"
    monkeypatch.setenv("RAMPWAY_DB", "sqlite:////elsewhere/x.db")
    assert resolve_url(tmp_path, "postgresql://u@h/db") == "sqlite:////elsewhere/x.db"


def test_relative_sqlite_path_in_config_is_relative_to_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    monkeypatch.chdir("/")
    assert resolve_url(tmp_path, "sqlite:///data/r.db") == f"sqlite:///{tmp_path.resolve()}/data/r.db"
    assert resolve_url(tmp_path, "sqlite:////abs/r.db") == "sqlite:////abs/r.db"
    assert resolve_url(tmp_path, "sqlite://") == "sqlite://"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://postgres@127.0.0.1/test", "postgresql+psycopg"),
        ("postgres://postgres@127.0.0.1/test", "postgresql+psycopg"),
        ("postgresql+psycopg://postgres@127.0.0.1/test", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgres_urls_use_psycopg3(url: str, driver: str) -> None:
    assert parse_url(url).drivername == driver


@pytest.mark.parametrize("url", ["", "nonsense", "mysql://u@h/db", "oracle://h/db"])
def test_bad_or_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="database"):
        parse_url(url)
