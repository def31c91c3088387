"""Every admin route without a key, with each role below the one it needs, and with it:
401 / 403 / 2xx, and the audit rows (written for changes, never for refused calls)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from admin_helpers import Keys
from gateway_helpers import SYSTEM_V2, Proj, support_spec, write_release

from rampway.admin import PREFIX, list_admin_keys
from rampway.release import load_release
from rampway.store import Store

ROLES = ["viewer", "editor", "admin"]


@dataclass
class Step:
    method: str
    path: str
    role: str
    status: int
    body: dict[str, Any] | None = None
    audit: str | tuple[str, ...] | None = None  # the audit action(s) the call must record

    @property
    def actions(self) -> tuple[str, ...]:
        return (self.audit,) if isinstance(self.audit, str) else self.audit or ()


def _start(candidate: str) -> dict[str, Any]:
    plan = {"steps": [{"weight": 5, "approval": True}, {"weight": 100}],
            "guardrails": [{"metric": "error_rate", "min_sample": 10}]}
    return {"candidate": candidate, "plan": plan, "skip_gate": True, "reason": "hotfix"}


STARTED = ("rollout.create", "rollout.gate_skipped", "rollout.await_approval")


def rollout_steps(v1: str, v2: str) -> list[Step]:
    """Every rollout route; production serves v1 when they start."""
    ro, why = "/rollouts/support-bot", {"reason": "checked"}
    return [
        Step("GET", "/rollouts", "viewer", 200),
        Step("POST", ro, "editor", 201, _start(v2), STARTED),
        Step("GET", ro, "viewer", 200),
        Step("GET", f"{ro}/1", "viewer", 200),
        Step("POST", f"{ro}/approve", "editor", 200, why, "rollout.approve"),
        Step("POST", f"{ro}/pause", "editor", 200, why, "rollout.pause"),
        Step("POST", f"{ro}/resume", "editor", 200, why, "rollout.resume"),
        Step("POST", f"{ro}/rollback", "editor", 200, why, "rollout.rollback"),
        Step("POST", ro, "editor", 201, _start(v2), STARTED),
        Step("POST", f"{ro}/promote", "editor", 200, why, ("channel.set", "rollout.complete")),
        Step("POST", ro, "editor", 201, _start(v1), STARTED),  # production is v2 now
        Step("POST", f"{ro}/abort", "editor", 200, why, "rollout.abort"),
    ]


def experiment_steps(v2: str) -> list[Step]:
    """Every experiment route (`rampway.admin._experiments`); starts after the rollouts ended."""
    ex = "/experiments/tone"
    definition = {"feature": "support-bot", "primary": "feedback:thumbs_up",
                  "arms": [{"name": "control", "release": "production"},
                           {"name": "fresh", "release": v2}]}
    return [
        Step("GET", "/experiments", "viewer", 200),
        # the fresh arm has no gate against production: started on an audited override
        Step("POST", ex, "editor", 201, {"definition": definition, "reason": "tone",
                                         "skip_gate": True},
             ("experiment.start", "experiment.gate_skipped")),
        Step("GET", ex, "viewer", 200),
        Step("GET", f"{ex}/1", "viewer", 200),
        Step("POST", f"{ex}/stop", "editor", 200, {"reason": "done"}, "experiment.stop"),
    ]


def shadow_steps(candidate: str) -> list[Step]:
    """Every shadow route (`rampway.admin._shadows`); a shadow runs beside anything."""
    sh = "/shadows/tone"
    definition = {"feature": "support-bot", "candidates": [candidate], "sample": 10,
                  "budget": {"usd_per_day": 1}}
    return [
        Step("GET", "/shadows", "viewer", 200),
        Step("POST", sh, "editor", 201, {"definition": definition, "reason": "tone"},
             "shadow.start"),
        Step("GET", sh, "viewer", 200),
        Step("POST", f"{sh}/stop", "editor", 200, {"reason": "done"}, "shadow.stop"),
    ]


def steps(proj: Proj, canonical: str, new_id: str) -> list[Step]:
    bot, v1, v2 = "support-bot", proj.v1.id, proj.v2.id
    ch = f"/features/{bot}/channels/production"
    return [
        Step("GET", "/whoami", "viewer", 200),
        Step("GET", "/features", "viewer", 200),
        Step("GET", f"/features/{bot}", "viewer", 200),
        Step("GET", f"/features/{bot}/releases", "viewer", 200),
        Step("GET", f"/features/{bot}/releases/{v1}", "viewer", 200),
        Step("GET", f"/features/{bot}/timeline", "viewer", 200),
        Step("POST", f"/features/{bot}/releases", "editor", 201,
             {"canonical": canonical, "reason": "new prompt"}, "release.publish"),
        Step("POST", f"/features/{bot}/releases/{new_id}/approve", "editor", 200,
             {"reason": "read the diff"}, "release.approve"),
        Step("GET", f"/features/{bot}/channels", "viewer", 200),
        # production is protected and new_id was never gated: only an admin may skip the gate
        Step("PUT", ch, "admin", 200, {"release": new_id, "reason": "ship", "skip_gate": True},
             ("channel.set", "channel.skip_gate")),
        Step("GET", ch, "viewer", 200),
        Step("GET", f"{ch}/history", "viewer", 200),
        Step("POST", f"{ch}/rollback", "editor", 200, {"reason": "regressed"},
             "channel.rollback"),
        Step("PUT", "/segments/beta", "editor", 201,
             {"definition": {"ids": ["u1"]}, "reason": "beta cohort"}, "segment.create"),
        Step("GET", "/segments", "viewer", 200),
        Step("GET", "/segments/beta", "viewer", 200),
        # new_id served production before the rollback: pinning it is not a move past the gate
        Step("PUT", f"/flags/{bot}.release", "editor", 201,
             {"definition": {"type": "string", "default": "production",
                             "rules": [{"segment": "beta", "value": new_id}]},
              "reason": "beta keeps the new prompt"}, "flag.create"),
        Step("GET", "/flags", "viewer", 200),
        Step("GET", f"/flags/{bot}.release", "viewer", 200),
        Step("DELETE", f"/flags/{bot}.release?reason=unpin", "editor", 200, None, "flag.delete"),
        Step("POST", "/flag-files", "editor", 200,
             {"definitions": [{"kind": "flag", "key": "from-file", "file": "flags/a.yaml",
                               "definition": {"type": "bool", "default": True}}],
              "reason": "push"}, "flag.create"),
        Step("DELETE", "/segments/beta?reason=tidy", "editor", 200, None, "segment.delete"),
        Step("GET", "/keys", "admin", 200),
        Step("POST", "/keys", "admin", 201, {"name": "ci", "role": "editor", "reason": "deploys"},
             "admin_key.create"),
        Step("DELETE", "/keys/ci?reason=rotated", "admin", 200, None, "admin_key.revoke"),
        Step("GET", "/app-keys", "admin", 200),
        Step("POST", "/app-keys", "admin", 201,
             {"name": "web", "features": [bot], "reason": "web app"}, "key.create"),
        Step("DELETE", "/app-keys/web?reason=leaked", "admin", 200, None, "key.revoke"),
        Step("GET", "/audit", "viewer", 200),
        *rollout_steps(v1, v2),
        *experiment_steps(v1),  # production serves v2 after the rollouts
        *shadow_steps(v1),
    ]


def _new_release(tmp_path: Path) -> Any:
    directory = write_release(tmp_path / "v3", "support-bot", support_spec("sim-small"),
                              {"prompts/system.md": SYSTEM_V2 + " v3"})
    return load_release(directory, feature="support-bot")


def _audit_count(store: Store) -> int:
    return len(store.list_audit(limit=10_000))


async def _call(api: httpx.AsyncClient, step: Step, headers: dict[str, str]) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": headers}
    if step.body is not None:
        kwargs["json"] = step.body
    return await api.request(step.method, PREFIX + step.path, **kwargs)


async def test_every_route_checks_keys_and_roles_and_audits_changes(
    api: httpx.AsyncClient, store: Store, keys: Keys, proj: Proj, tmp_path: Path
) -> None:
    new = _new_release(tmp_path)
    walked = steps(proj, new.canonical, new.id)
    for step in walked:
        where = f"{step.method} {step.path}"
        before, version = _audit_count(store), store.control_version()
        denied = [None, "bogus"] + ROLES[: ROLES.index(step.role)]
        for role in denied:
            headers = ({"authorization": "Bearer rwa_not-a-key"} if role == "bogus"
                       else keys.headers(role))
            r = await _call(api, step, headers)
            expected = 403 if role in ROLES else 401
            assert r.status_code == expected, f"{where} as {role}: {r.status_code} {r.text}"
            assert r.json()["error"]["code"] in ("invalid_api_key", "permission_denied")
        assert _audit_count(store) == before and store.control_version() == version, where
        r = await _call(api, step, keys.headers(step.role))
        assert r.status_code == step.status, f"{where}: {r.status_code} {r.text}"
        after = store.list_audit(limit=10_000)
        new = after[: len(after) - before]
        assert sorted(e.action for e in new) == sorted(step.actions), where
        assert all(e.actor == f"{step.role}-key" for e in new), where
        assert all(e.reason.strip() for e in new), where  # every audited write says why
    assert await _routes(api) == {(s.method, _template(s.path)) for s in walked}


def _template(path: str) -> str:
    """The route template a concrete step path exercises."""
    parts = path.strip("/").split("/")
    names = {"features": "{feature}", "releases": "{ref}", "channels": "{channel}",
             "flags": "{key}", "segments": "{key}", "keys": "{name}", "app-keys": "{name}",
             "rollouts": "{feature}", "experiments": "{name}", "shadows": "{name}"}
    out: list[str] = []
    for i, part in enumerate(parts):
        if parts[0] == "rollouts" and i == 2 and part.isdigit():
            out.append("{rollout_id}")
        elif parts[0] == "experiments" and i == 2 and part.isdigit():
            out.append("{experiment_id}")
        elif i > 0 and parts[i - 1] in names and part not in ("rollback", "history", "stop"):
            out.append(names[parts[i - 1]])
        else:
            out.append(part)
    return "/" + "/".join(out)


async def _routes(api: httpx.AsyncClient) -> set[tuple[str, str]]:
    """Every (method, route) the API publishes in its OpenAPI schema."""
    paths = (await api.get(f"{PREFIX}/openapi.json")).json()["paths"]
    return {
        (method.upper(), path[len(PREFIX):])
        for path, ops in paths.items()
        for method in ops
    }


async def test_key_management_needs_admin(
    api: httpx.AsyncClient, keys: Keys, store: Store
) -> None:
    for role in ("viewer", "editor"):
        r = await api.post(f"{PREFIX}/keys", json={"name": "x", "role": "admin"},
                           headers=keys.headers(role))
        assert r.status_code == 403
    assert "x" not in {k.name for k in list_admin_keys(store)}
    assert store.list_audit(object_type="admin_key", object_id="x") == []


async def test_revoked_key_is_refused_at_once(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    made = await api.post(f"{PREFIX}/keys", json={"name": "temp", "role": "viewer",
                                                  "reason": "a day of on-call"},
                          headers=keys.headers("admin"))
    token = made.json()["key"]
    assert token.startswith("rwa_")
    ok = await api.get(f"{PREFIX}/whoami", headers={"x-api-key": token})
    assert ok.json() == {**ok.json(), "name": "temp", "role": "viewer"}
    await api.delete(f"{PREFIX}/keys/temp", params={"reason": "shift over"},
                     headers=keys.headers("admin"))
    r = await api.get(f"{PREFIX}/whoami", headers={"x-api-key": token})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_openapi_schema_is_served_without_a_key(api: httpx.AsyncClient) -> None:
    r = await api.get(f"{PREFIX}/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert f"{PREFIX}/flags/{{key}}" in paths
    assert f"{PREFIX}/features/{{feature}}/channels/{{channel}}/rollback" in paths
