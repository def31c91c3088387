"""`rampway timeline` and `GET /api/v1/features/{f}/timeline` over one seeded store (SQLite and
PostgreSQL): the same entries, the admin API's auth, bad input as 4xx / one error line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from rollout_helpers import FEATURE
from timeline_seed import seed
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.admin import PREFIX, Role, create_admin_app, create_admin_key
from rampway.cli import app
from rampway.store import Store
from rampway.timeline import build_timeline

URL = f"{PREFIX}/features/{FEATURE}/timeline"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_admin_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


async def test_api_answers_the_timeline_to_viewers(store: Store, api: httpx.AsyncClient) -> None:
    s = seed(store)
    _, plaintext = create_admin_key(store, "v", Role.VIEWER, actor="t", reason="t")
    viewer = {"authorization": f"Bearer {plaintext}"}
    r = await api.get(URL, headers=viewer)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["feature"] == FEATURE and doc["since"] is None
    assert doc["entries"] == [e.to_json() for e in build_timeline(store, FEATURE)]
    one = await api.get(URL, params={"release": s.candidate, "since": "1h", "limit": 5},
                        headers=viewer)
    assert one.status_code == 200 and len(one.json()["entries"]) == 5
    assert all(s.candidate in e["releases"] for e in one.json()["entries"])

    assert (await api.get(URL)).status_code == 401
    # a window too long for datetime arithmetic was an OverflowError (500); now a 400 too
    for since in ("yesterday", "1000000000d", "9" * 40 + "d", "-1h", "1e400s"):
        bad = await api.get(URL, params={"since": since}, headers=viewer)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "since", bad.text
    assert (await api.get(URL, params={"limit": 0}, headers=viewer)).status_code == 400
    missing = await api.get(f"{PREFIX}/features/nope/timeline", headers=viewer)
    assert missing.status_code == 404 and "unknown feature" in missing.json()["error"]["message"]
    nope = await api.get(URL, params={"release": "abcdef12"}, headers=viewer)
    assert nope.status_code == 404


def test_cli_prints_the_timeline_and_refuses_bad_input(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    root = tmp_path / "app"
    root.mkdir()
    (root / "rampway.yaml").write_text("providers:\n  sim: {kind: sim}\n")
    monkeypatch.chdir(root)
    runner = CliRunner()
    with Store.open(db_url) as store:
        s = seed(store)
        expected = [e.to_json() for e in build_timeline(store, FEATURE, release=s.candidate)]
    out = runner.invoke(app, ["timeline", FEATURE, "--release", s.candidate, "--since", "7d",
                              "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["release"] == s.candidate and doc["entries"] == expected
    text = runner.invoke(app, ["timeline", FEATURE])
    assert text.exit_code == 0
    assert "rollout support-bot#" in text.stdout and "[bo] — refunds regressed" in text.stdout
    for args, fragment in ((["nope"], "unknown feature 'nope'"),
                           ([FEATURE, "--since", "soon"], "since: invalid duration"),
                           ([FEATURE, "--since", "1000000000d"], "at most 100 years"),
                           ([FEATURE, "--release", "ffffffff"], "no release")):
        bad = runner.invoke(app, ["timeline", *args])
        assert bad.exit_code == 2, bad.output
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], bad.stderr
