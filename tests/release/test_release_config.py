"""rampway.yaml: strict validation with file:line errors, discovery from subdirectories."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.config import load_project, parse_config
from rampway.errors import ConfigError

FULL = """\
database: {url: "sqlite:///data/r.db"}
providers:
  sim: {kind: sim, base_url: "http://127.0.0.1:8900/v1"}
  oa: {kind: openai, api_key_env: OPENAI_API_KEY, options: {organization: x}}
catalog:
  - {model: sim-large, input_per_mtok: 1.0}
features:
  bot:
    mode: managed
    require_unit: true
    retention: {prompts: false, redact: ['\\d{16}']}
gateway: {anything: [1, 2]}
sim: {latency_ms: 5}
"""


def test_full_config_parses() -> None:
    config = parse_config(FULL)
    assert config.providers["oa"].api_key_env == "OPENAI_API_KEY"
    assert config.features["bot"].retention.redact == ["\\d{16}"]
    assert config.features["bot"].require_unit and config.gateway == {"anything": [1, 2]}
    assert config.catalog[0]["model"] == "sim-large"


def test_empty_config_has_defaults() -> None:
    config = parse_config("")
    assert config.providers == {} and config.database.url is None


def test_database_shorthand() -> None:
    assert parse_config("database: postgresql://x/y\n").database.url == "postgresql://x/y"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("providers:\n  sim: {kind: sim, bogus: 1}\n", 2, "providers.sim.bogus: unknown key"),
        ("providers:\n  sim: {kind: grpc}\n", 2, "providers.sim.kind"),
        ("features:\n  bot:\n    retention: {redact: ['(']}\n", 3, "invalid regex"),
        ("providers: [\n", 2, "malformed YAML"),
        ("unknown_section: 1\n", 1, "unknown_section: unknown key"),
        ("catalog: {a: 1}\n", 1, "catalog"),
        ("features:\n  bot: {mode: sideways}\n", 2, "features.bot.mode"),
    ],
)
def test_bad_config_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "rampway.yaml")
    assert info.value.message.startswith(f"rampway.yaml:{line}: ")
    assert fragment in info.value.message


def test_load_project_walks_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rampway.yaml").write_text(FULL)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.delenv("RAMPWAY_DB", raising=False)
    project = load_project()
    assert project.root == tmp_path.resolve()
    assert project.db_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'r.db'}"
    monkeypatch.setenv("RAMPWAY_DB", "sqlite:////elsewhere.db")
    assert load_project(deep).db_url == "sqlite:////elsewhere.db"


def test_no_project_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    with pytest.raises(ConfigError, match="no rampway.yaml found"):
        load_project(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_project(tmp_path / "missing")
