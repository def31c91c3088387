"""ClickHouse as the event log, for when one database is outgrown (issue #18).

    # rampway.yaml
    events: clickhouse://rampway:secret@ch.internal:8123/rampway    # a server or cluster
    events: chdb:///srv/rampway/events                              # the embedded engine

Request and feedback events then go to ClickHouse (`ClickHouseSink`, behind the same
`EventWriter`), and the experiment analysis reads its per-unit aggregates there
(`ClickHouseEvents.load_units`, the same SQLAlchemy queries compiled for ClickHouse), as do
the rollout judge's looks (`ClickHouseEvents.load_look`) and the dashboard's health; control
state — releases, channels, flags, rollouts, experiments — stays in the main database.
Needs the `rampway[clickhouse]` extra (clickhouse-connect, chdb).

Modules: `_url` (the URL), `schema` (tables, migrations, TTL), `backend` (the one seam:
server or embedded), `sink` (writes), `sql` (Core → ClickHouse SQL), `units` (the analysis'
reads), `totals` (a rollout judge's look), `health` (the overview's figures), `store`
(`ClickHouseEvents`, tying them together; imported from there, so that
reading rampway.yaml — which checks the URL — does not load the analysis).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rampway.events.clickhouse._url import EventsTarget, parse_events_url, resolve_events_url

if TYPE_CHECKING:
    from rampway.config import Project
    from rampway.events.clickhouse.store import ClickHouseEvents


def open_events(project: Project) -> ClickHouseEvents | None:
    """The project's ClickHouse events store, migrated, with the retention of
    `gateway.events.retention` as its TTL; None when events go to the main database."""
    target = resolve_events_url(project.root, project.config.events.url)
    if target is None:
        return None
    # imported here: without `events:` nothing beyond `_url` loads (no numpy for the gateway's
    # start, the CLI's or the config's check of the URL)
    from rampway.events.clickhouse.store import ClickHouseEvents
    from rampway.gateway.settings import GatewaySettings

    retention = GatewaySettings.from_config(project.config.gateway).events.retention
    return ClickHouseEvents.open(target, retention_s=retention)


__all__ = ["EventsTarget", "open_events", "parse_events_url",
           "resolve_events_url"]
