"""A gate whose provider answers nothing says so in one line and records nothing."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from gate_helpers import EXAMPLE
from typer.testing import CliRunner

from rampway.cli import (
    _register,  # noqa: F401  (attaches the commands)
    app,
)
from rampway.gate.tables import gate_decisions
from rampway.store import Store


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections are refused


def test_unreachable_provider_is_one_error_line_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "app"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    config = root / "rampway.yaml"
    config.write_text(config.read_text().replace(":8900/v1", f":{dead_port()}/v1"))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    monkeypatch.setenv("RAMPWAY_DB", db)
    monkeypatch.chdir(root)

    result = CliRunner().invoke(app, ["gate", "support-bot", "--candidate", "releases/support-bot",
                                      "--baseline", "history/support-bot/v1", "--repeats", "1"])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: every eval call of the baseline support-bot@")
    assert "connection" in result.stderr and "circuit_open" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    store = Store.open(db)
    try:
        with store.engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(gate_decisions)
            assert conn.execute(count).scalar() == 0
    finally:
        store.close()
