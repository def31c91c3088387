"""A key command without a reason is refused before the database is opened: on a project that
has none yet, nothing is created (no `.rampway/rampway.db`), as for every refused write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway._dblocation import ENV_VAR, default_db_file
from rampway.cli import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "support-bot" / "rampway.yaml"

REFUSED = [
    (["keys", "create", "web"], "creating app key 'web' needs a reason"),
    (["keys", "revoke", "web", "--reason", " "], "revoking app key 'web' needs a reason"),
    (["api-keys", "create", "ana", "--role", "admin"], "creating admin key 'ana' needs a reason"),
    (["api-keys", "revoke", "ana", "--reason", ""], "revoking admin key 'ana' needs a reason"),
]


@pytest.mark.parametrize(("args", "message"), REFUSED, ids=[" ".join(a[:2]) for a, _ in REFUSED])
def test_a_key_write_without_a_reason_creates_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str,
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "rampway.yaml")
    monkeypatch.delenv(ENV_VAR, raising=False)
    result = CliRunner().invoke(app, [*args, "--project", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {message} (it goes to the audit log): " \
        "pass --reason \"…\" (`reason` in an API body)", result.stderr
    assert not default_db_file(tmp_path).exists()
    assert not (tmp_path / ".rampway").exists()
