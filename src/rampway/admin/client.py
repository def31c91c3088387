"""`AdminClient`: the admin API from Python, with its HTTP errors turned back into rampway errors.

This is what the CLI uses with `--server URL` (key from `$RAMPWAY_API_KEY`):

    client = AdminClient("http://127.0.0.1:8787", api_key)
    rec, etag = client.get_definition("flag", "support-bot.enabled")
    status, etag = client.rollout_status("support-bot")
    client.rollout_command("support-bot", "pause", reason="tickets spiking", if_match=etag)
    client.put_definition("flag", "support-bot.enabled", {...}, reason="incident", if_match=etag)

A 401 comes back as AuthenticationError, 403 PermissionDenied, 404 RefError, 409
ConflictError (StateConflict when the body's code says `state_conflict`), an invalid flag as
FlagError and other 4xx as ConfigError — the same errors the direct-to-store path raises, so
CLI commands handle both alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from rampway.admin.app import PREFIX
from rampway.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    FlagError,
    PermissionDenied,
    RampwayError,
    RefError,
    StateConflict,
    StoreError,
)
from rampway.rollout.state import COMMANDS

_BY_STATUS: dict[int, type[RampwayError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: RefError,
    409: ConflictError,
}
# Errors the body's `code` names more precisely than its HTTP status does.
_BY_CODE: dict[str, type[RampwayError]] = {
    FlagError.code: FlagError,
    StateConflict.code: StateConflict,
}


def error_from(response: httpx.Response) -> RampwayError:
    """The rampway error an admin API error response stands for."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = str(error.get("message") or f"HTTP {response.status_code}: {response.text[:200]}")
    kind = _BY_CODE.get(str(error.get("code"))) or _BY_STATUS.get(response.status_code)
    if kind is not None:
        return kind(message)
    if response.status_code < 500:
        return ConfigError(message)
    return StoreError(f"server error: {message}")


class AdminClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + PREFIX,
            headers={"authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a non-2xx answer raises the matching rampway error."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the rampway server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response

    # -- flags and segments -------------------------------------------------------------------

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request("GET", f"/{kind}s").json()[f"{kind}s"]
        return items

    def get_definition(self, kind: str, key: str) -> tuple[dict[str, Any], str]:
        """The record and its ETag (send it back as `if_match`)."""
        response = self.request("GET", f"/{kind}s/{quote(key, safe='/:')}")
        return response.json(), response.headers.get("etag", "")

    def put_definition(
        self,
        kind: str,
        key: str,
        definition: dict[str, Any],
        *,
        reason: str,
        if_match: str | None = None,
        skip_gate: bool = False,
    ) -> dict[str, Any]:
        headers = {} if if_match is None else {"if-match": if_match}
        body: dict[str, Any] = {"definition": definition, "reason": reason}
        if skip_gate:
            body["skip_gate"] = True
        response = self.request(
            "PUT", f"/{kind}s/{quote(key, safe='/:')}", json=body, headers=headers,
        )
        out: dict[str, Any] = response.json()
        return out

    def delete_definition(
        self, kind: str, key: str, *, reason: str, if_match: str | None = None
    ) -> dict[str, Any]:
        headers = {} if if_match is None else {"if-match": if_match}
        response = self.request(
            "DELETE",
            f"/{kind}s/{quote(key, safe='/:')}",
            params={"reason": reason},
            headers=headers,
        )
        out: dict[str, Any] = response.json()["deleted"]
        return out

    def push(
        self, definitions: list[dict[str, Any]], *, reason: str, force: bool, dry_run: bool,
        skip_gate: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"definitions": definitions, "reason": reason, "force": force,
                                "dry_run": dry_run}
        if skip_gate:
            body["skip_gate"] = True
        out: dict[str, Any] = self.request("POST", "/flag-files", json=body).json()
        return out

    # -- releases and channels ----------------------------------------------------------------

    def publish_release(self, feature: str, canonical: str, *, reason: str) -> dict[str, Any]:
        """Publish a release's canonical text (idempotent); `{"release_id", "created", …}`."""
        out: dict[str, Any] = self.request(
            "POST", f"/features/{_seg(feature)}/releases",
            json={"canonical": canonical, "reason": reason},
        ).json()
        return out

    def get_channel(self, feature: str, channel: str) -> tuple[dict[str, Any], str]:
        """The channel and its ETag (send it back as `if_match`); RefError if unknown."""
        response = self.request("GET", _channel_path(feature, channel))
        return response.json(), response.headers.get("etag", "")

    def find_release(self, feature: str, ref: str) -> str | None:
        """The release id `ref` names on the server — a channel, or a release id / prefix /
        digest — or None when it names neither there."""
        release_path = f"/features/{_seg(feature)}/releases/{_seg(ref)}"
        for path in (_channel_path(feature, ref), release_path):
            try:
                found: str = self.request("GET", path).json()["release_id"]
            except RefError:
                continue
            return found
        return None

    def set_channel(
        self, feature: str, channel: str, release: str, *, reason: str,
        if_match: str | None = None, skip_gate: bool = False,
    ) -> dict[str, Any]:
        """Point a channel at a published release; the answer has `previous_release_id`."""
        body: dict[str, Any] = {"release": release, "reason": reason}
        if skip_gate:
            body["skip_gate"] = True
        out: dict[str, Any] = self.request(
            "PUT", _channel_path(feature, channel), json=body, headers=_if_match(if_match),
        ).json()
        return out

    def rollback(
        self, feature: str, channel: str, *, reason: str, if_match: str | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST", _channel_path(feature, channel) + "/rollback", json={"reason": reason},
            headers=_if_match(if_match),
        ).json()
        return out

    # -- rollouts ------------------------------------------------------------------------------

    def list_rollouts(
        self, feature: str | None = None, *, active: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Rollouts newest first, each as `rampway.rollout.views.listing_json`."""
        params: dict[str, Any] = {"active": "true" if active else "false", "limit": limit}
        if feature is not None:
            params["feature"] = feature
        found: list[dict[str, Any]] = self.request("GET", "/rollouts", params=params).json()[
            "rollouts"]
        return found

    def rollout_status(
        self, feature: str, rollout_id: int | None = None
    ) -> tuple[dict[str, Any], str]:
        """The feature's latest rollout (or `rollout_id`) as `rollout_json`, and its ETag."""
        path = _rollout_path(feature) + ("" if rollout_id is None else f"/{rollout_id}")
        response = self.request("GET", path)
        return response.json(), response.headers.get("etag", "")

    def start_rollout(
        self, feature: str, candidate: str, *, plan: dict[str, Any] | None = None,
        reason: str = "", skip_gate: bool = False, canonical: str | None = None,
    ) -> dict[str, Any]:
        """Start a rollout (`rollout_json` of it). `candidate` names a release the server has,
        or — with `canonical`, a release's text the server publishes once the start is
        accepted — how the caller names it."""
        body: dict[str, Any] = {"candidate": candidate, "plan": plan, "reason": reason,
                                "skip_gate": skip_gate}
        if canonical is not None:
            body["canonical"] = canonical
        out: dict[str, Any] = self.request("POST", _rollout_path(feature), json=body).json()
        return out

    def rollout_command(
        self, feature: str, command: str, *, reason: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """pause / resume / approve / promote / abort / rollback the feature's active rollout;
        StateConflict when its state rules the command out, ConflictError on a stale
        `if_match` (an ETag from `rollout_status`)."""
        if command not in COMMANDS:
            raise ConfigError(f"unknown rollout command {command!r} "
                              f"(known: {', '.join(COMMANDS)})")
        out: dict[str, Any] = self.request(
            "POST", f"{_rollout_path(feature)}/{command}", json={"reason": reason},
            headers=_if_match(if_match),
        ).json()
        return out

    # -- shadows ---------------------------------------------------------------------------------

    def list_shadows(self, *, running: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"running": "true" if running else "false", "limit": limit}
        found: list[dict[str, Any]] = self.request("GET", "/shadows", params=params).json()[
            "shadows"]
        return found

    def shadow_status(self, name: str) -> tuple[dict[str, Any], str]:
        """The latest shadow called `name` (`rampway.shadow.views.status_json`), its ETag."""
        response = self.request("GET", f"/shadows/{_seg(name)}")
        return response.json(), response.headers.get("etag", "")

    def start_shadow(self, name: str, definition: dict[str, Any] | None, *,
                     reason: str = "") -> dict[str, Any]:
        """Start a shadow from `definition` (None: the server's shadows/NAME.yaml)."""
        out: dict[str, Any] = self.request(
            "POST", f"/shadows/{_seg(name)}", json={"definition": definition, "reason": reason},
        ).json()
        return out

    def stop_shadow(self, name: str, *, reason: str,
                    if_match: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST", f"/shadows/{_seg(name)}/stop", json={"reason": reason},
            headers=_if_match(if_match),
        ).json()
        return out

    # -- keys ----------------------------------------------------------------------------------

    def create_key(self, name: str, role: str, *, reason: str) -> dict[str, Any]:
        body = {"name": name, "role": role, "reason": reason}
        out: dict[str, Any] = self.request("POST", "/keys", json=body).json()
        return out

    def list_keys(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = self.request("GET", "/keys").json()["keys"]
        return keys

    def revoke_key(self, name: str, *, reason: str) -> dict[str, Any]:
        path = f"/keys/{quote(name, safe='')}"
        response = self.request("DELETE", path, params={"reason": reason})
        out: dict[str, Any] = response.json()["revoked"]
        return out


def _seg(value: str) -> str:
    """One path segment (slashes and all escaped)."""
    return quote(value, safe="")


def _channel_path(feature: str, channel: str) -> str:
    return f"/features/{_seg(feature)}/channels/{_seg(channel)}"


def _rollout_path(feature: str) -> str:
    return f"/rollouts/{_seg(feature)}"


def _if_match(value: str | None) -> dict[str, str]:
    return {} if value is None else {"if-match": value}


__all__ = ["AdminClient", "error_from"]
