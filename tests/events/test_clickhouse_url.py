"""The `events:` URL: a ClickHouse server, the embedded engine, or (unset) the main database."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampway.config import parse_config
from rampway.errors import ConfigError
from rampway.events.clickhouse import parse_events_url, resolve_events_url


def test_a_server_url_names_host_port_user_and_database() -> None:
    got = parse_events_url("clickhouse://rw:s%40cret@ch1.internal:9123/rampway_events")
    assert (got.kind, got.host, got.port, got.username, got.password, got.database,
            got.secure) == ("server", "ch1.internal", 9123, "rw", "s@cret", "rampway_events",
                            False)
    assert "s%40cret" not in got.url and ":***@" in got.url  # for messages and logs


def test_server_defaults_are_http_8123_default_user_and_database() -> None:
    got = parse_events_url("clickhouse://ch1")
    assert (got.port, got.username, got.password, got.database) == (8123, "default", "",
                                                                     "default")
    secure = parse_events_url("clickhouses://u:p@ch1/db")
    assert (secure.secure, secure.port) == (True, 8443)


def test_an_embedded_url_is_a_directory_absolute_or_under_the_project(tmp_path: Path) -> None:
    assert parse_events_url("chdb:///srv/rampway/events").path == Path("/srv/rampway/events")
    got = resolve_events_url(tmp_path, "chdb://.rampway/events")
    assert got is not None and got.path == (tmp_path / ".rampway" / "events").resolve()


def test_the_environment_wins_and_nothing_means_the_main_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAMPWAY_EVENTS", raising=False)
    assert resolve_events_url(tmp_path, None) is None
    assert resolve_events_url(tmp_path, "  ") is None
    monkeypatch.setenv("RAMPWAY_EVENTS", "clickhouse://envhost:8123/x")
    got = resolve_events_url(tmp_path, "chdb:///elsewhere")
    assert got is not None and got.host == "envhost"


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://u@h/db", "unsupported URL"),
    ("clickhouse://:8123/db", "names no host"),
    ("clickhouse://h:notaport/db", "invalid URL"),
    ("clickhouse://h/db?secure=1", "options after '?'"),
    ("clickhouse://h/my-db", "invalid database name"),
    ("chdb://", "names no directory"),
    ("clickhouse://h:99999/db", "Port out of range"),
    ("clickhouse://[::1/db", "invalid URL"),
    # accepted before and failing only at serve time: a NUL (chdb's directory: "embedded null
    # byte" from the first open) and non-ASCII database names
    ("chdb:///var/lib/\x00events", "control character"),
    ("chdb://x\ty", "control character"),
    ("clickhouse://h\x00/db", "control character"),
    ("clickhouse://u:p@h/db\x7f", "control character"),
    ("clickhouse://h/ü", "invalid database name"),
    ("clickhouse://h/%D9%A1", "invalid database name"),  # an Arabic-Indic digit
    ("clickhouse://h/d%00b", "invalid database name"),
])
def test_bad_urls_are_config_errors_that_say_why(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"events: .*{says}"):
        parse_events_url(url)


def test_a_bad_url_never_echoes_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_events_url("clickhouse://u:hunter2@h/my-db")
    assert "hunter2" not in str(caught.value)


def test_rampway_yaml_takes_events_as_a_url_or_a_section_and_checks_it() -> None:
    assert parse_config("events: chdb:///x\n").events.url == "chdb:///x"
    assert parse_config("events: {url: 'clickhouse://h/db'}\n").events.url == "clickhouse://h/db"
    assert parse_config("database: sqlite:///x.db\n").events.url is None
    with pytest.raises(ConfigError, match=r"rampway.yaml:2: .*unsupported URL"):
        parse_config("database: sqlite:///x.db\nevents: mysql://h/db\n")
    with pytest.raises(ConfigError, match=r"rampway.yaml:1: events.url: .*control character"):
        parse_config('events: {url: "chdb://\\0x"}\n')
