"""`events: chdb://…` in rampway.yaml: the gateway's request and feedback events go to
ClickHouse (the embedded engine) while releases and channels stay in the database."""

from __future__ import annotations

from pathlib import Path

import yaml
from gateway_helpers import count_rows, feedback_events, gateway_client, make_project

from rampway.config import load_project
from rampway.events.clickhouse import parse_events_url
from rampway.events.clickhouse.store import ClickHouseEvents
from rampway.events.model import hash_unit


async def test_gateway_events_land_in_clickhouse_and_control_state_stays(
    tmp_path: Path,
) -> None:
    proj = make_project(tmp_path, f"sqlite:///{tmp_path / 'db' / 'rampway.db'}")
    config_path = proj.project.config_path
    config = yaml.safe_load(config_path.read_text())
    config["events"] = "chdb://.rampway/events"  # relative to the project root
    config_path.write_text(yaml.safe_dump(config))
    project = load_project(proj.project.root)
    async with gateway_client(project) as (client, rt):
        assert rt.events is not None
        r = await client.post("/v1/chat/completions", headers={"x-rampway-unit": "user-7"},
                              json={"model": "support-bot",
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        fb = await client.post("/v1/feedback", json={
            "request_id": r.headers["x-request-id"], "name": "thumbs_up", "value": 1})
        assert fb.status_code == 202, fb.text
    # stopped: the queue drained into ClickHouse and the engine closed
    assert count_rows(proj.db_url) == 0 and count_rows(proj.db_url, feedback_events) == 0
    directory = proj.project.root / ".rampway" / "events"
    with ClickHouseEvents.open(parse_events_url(f"chdb://{directory}")) as events:
        ids, units, releases = events.backend.columns(
            "SELECT id, unit_hash, release_id FROM request_events")
        (named,) = events.backend.columns("SELECT request_id FROM feedback_events")
    assert ids == [r.headers["x-request-id"]] and named == ids
    assert units == [hash_unit("user-7")] and releases == [proj.v1.id]
