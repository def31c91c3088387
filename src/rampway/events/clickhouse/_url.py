"""Where the events go: the `events:` URL of rampway.yaml, parsed without I/O.

    clickhouse://user:password@host:8123/db      a ClickHouse server over HTTP (clickhouse-connect)
    clickhouses://user:password@host:8443/db     the same over HTTPS
    chdb:///var/lib/rampway/events               the embedded engine (chdb), in that directory
    chdb://.rampway/events                       … relative to the project root

`RAMPWAY_EVENTS` wins over the file (as `RAMPWAY_DB` does for the database), so a deployment
can point its gateways at a cluster without editing the repository. No URL: events go to the
main database (`rampway.events.sink.SqlEventSink`).

    >>> parse_events_url("clickhouse://rw:pw@ch1:8123/rampway").host
    'ch1'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from rampway.errors import ConfigError

ENV_VAR = "RAMPWAY_EVENTS"
_SERVER = {"clickhouse": (False, 8123), "clickhouses": (True, 8443)}
_CHDB = "chdb://"
_DATABASE = re.compile(r"[A-Za-z0-9_]+")  # ASCII: what the ClickHouse schema is created with
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class EventsTarget:
    """A parsed events URL: a server (`host`…) or an embedded engine's directory (`path`)."""

    kind: Literal["server", "chdb"]
    url: str  # as given, with the password masked (for messages and logs)
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""  # noqa: S105 - ClickHouse's default user has none
    database: str = "default"
    secure: bool = False
    path: Path | None = None


def resolve_events_url(project_root: Path, configured: str | None) -> EventsTarget | None:
    """$RAMPWAY_EVENTS, else `events:` of rampway.yaml, else None (the main database)."""
    url = os.environ.get(ENV_VAR, "").strip() or (configured or "").strip()
    if not url:
        return None
    target = parse_events_url(url)
    if target.path is not None and not target.path.is_absolute():
        return _with_path(target, (project_root / target.path).resolve())
    return target


def parse_events_url(url: str) -> EventsTarget:
    """Parse `clickhouse://…`, `clickhouses://…` or `chdb://…`; ConfigError names the fault."""
    if _CONTROL.search(url):  # a NUL in a path or host fails only when it is opened
        raise ConfigError(f"events: {_masked(url)!r} contains a control character")
    if url.startswith(_CHDB):
        rest = url[len(_CHDB):]
        if not rest.strip("/"):
            raise ConfigError(f"events: {url!r} names no directory: use chdb:///path/to/dir")
        return EventsTarget("chdb", url, path=Path(rest))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"events: invalid URL {_masked(url)!r}: {exc}") from exc
    if parts.scheme not in _SERVER:
        raise ConfigError(f"events: unsupported URL {_masked(url)!r}: use "
                          "clickhouse://user:password@host:8123/db or chdb:///path/to/dir")
    if not parts.hostname:
        raise ConfigError(f"events: {_masked(url)!r} names no host")
    if parts.query or parts.fragment:
        raise ConfigError(f"events: {_masked(url)!r}: options after '?' are not supported")
    return _server(parts, url, port)


def _server(parts: SplitResult, url: str, port: int | None) -> EventsTarget:
    secure, default_port = _SERVER[parts.scheme]
    database = unquote(parts.path.strip("/")) or "default"
    if not _DATABASE.fullmatch(database):
        raise ConfigError(f"events: invalid database name {database!r} in {_masked(url)!r} "
                          "(letters, digits and '_')")
    return EventsTarget(
        "server", _masked(url), host=parts.hostname or "", port=port or default_port,
        username=unquote(parts.username or "") or "default",
        password=unquote(parts.password or ""), database=database, secure=secure,
    )


def _masked(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("@")[-1]
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _with_path(target: EventsTarget, path: Path) -> EventsTarget:
    return EventsTarget("chdb", target.url, path=path)


__all__ = ["ENV_VAR", "EventsTarget", "parse_events_url", "resolve_events_url"]
