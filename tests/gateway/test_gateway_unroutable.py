"""Through a real running gateway, on SQLite and PostgreSQL: after rampway.yaml is reloaded
without a provider that live releases use, `/readyz` says so (200, `"status": "degraded"`, an
`unroutable` list) and the admin API it serves validates writes against the reloaded config —
a flag write naming the removed provider is refused with 422 at once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from gateway_helpers import make_project, serve

from rampway.admin import Role, create_admin_key
from rampway.gateway import Runtime
from rampway.store import Store


def _until(client: httpx.Client, check: Any, seconds: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get("/readyz").json()
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_readyz_and_the_admin_api_follow_a_reloaded_config(tmp_path: Path, db_url: str) -> None:
    proj = make_project(tmp_path, db_url)
    path = proj.project.config_path
    config = yaml.safe_load(path.read_text())
    config["providers"]["alt"] = dict(config["providers"]["sim"])
    path.write_text(yaml.safe_dump(config))
    with Store.open(db_url) as store:
        _, key = create_admin_key(store, "ops", Role.ADMIN, actor="t", reason="test")
    headers = {"authorization": f"Bearer {key}"}
    model_flag = {"type": "string", "default": "sim-large",
                  "rules": [{"condition": {"plan": "pro"}, "value": "alt/sim-large"}]}
    runtime = Runtime.from_project(load(path))
    with serve(runtime) as url, httpx.Client(base_url=url) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        assert "unroutable" not in ready.json()
        # `alt` is configured now: a flag may route pro users to it (production's model, so
        # no gate to ask for)
        put = client.put("/api/v1/flags/support-bot.model", headers=headers,
                         json={"definition": model_flag, "reason": "pro on alt",
                               "skip_gate": True})
        assert put.status_code == 201, put.text

        del config["providers"]["alt"]
        config["providers"]["sim"]["api_key_env"] = "SIM_KEY"  # any edit to providers
        path.write_text(yaml.safe_dump({**config, "providers": {"sim2": config["providers"]
                                                                ["sim"]}}))
        body = _until(client, lambda b: b.get("status") == "degraded")
        assert client.get("/readyz").status_code == 200  # still serving: readiness stays
        broken = {(u["what"], u["release"]) for u in body["unroutable"]}
        assert ("channel support-bot/production", proj.v1.id) in broken
        assert ("flag support-bot.model", None) in broken
        assert all("not configured in rampway.yaml" in u["problem"] for u in body["unroutable"])
        assert "cannot route" in body["message"] and "restart" in body["message"]
        assert body["restart_needed"] == ["providers"]

        # the admin API validates against the reloaded config: `sim` is gone from it
        refused = client.put("/api/v1/flags/echo.model", headers=headers,
                             json={"definition": {"type": "string", "default": "sim/sim-small"},
                                   "reason": "cheaper"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "unroutable_model"
        assert "provider 'sim'" in refused.json()["error"]["message"]
        moved = client.put("/api/v1/features/support-bot/channels/canary", headers=headers,
                           json={"release": proj.v2.id, "reason": "try"})
        assert moved.status_code == 422 and "provider 'sim'" in moved.text

        sim = config["providers"]["sim"]  # both back: nothing unroutable any more
        path.write_text(yaml.safe_dump({**config, "providers": {"sim": sim, "alt": sim}}))
        fixed = _until(client, lambda b: "unroutable" not in b)
        assert fixed["status"] == "ready"
        ok = client.put("/api/v1/flags/echo.model", headers=headers,
                        json={"definition": {"type": "string", "default": "sim/sim-small"},
                              "reason": "cheaper"})
        assert ok.status_code == 201, ok.text


def load(path: Path) -> Any:
    from rampway.config import load_project

    return load_project(path.parent)
