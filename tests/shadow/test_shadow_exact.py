"""A faster report must be the same report: `compare_many`, the batched similarity, the
store's read path (prompts read for the exemplars shown only) and `rampway shadow report`
itself against what the comparison and the report made of a realistic mix of pairs before they
existed (`data/report_vectors.json`, see `shadow_traffic.py`), on both databases."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from shadow_traffic import VECTORS, answer_columns, comparison_json, report_json, traffic
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the sub-commands)
from rampway.cli import app
from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.shadow import load_pairs
from rampway.shadow.compare import TOKEN_SET, Thresholds, compare, compare_many
from rampway.shadow.model import Pair
from rampway.shadow.pairs import request_excerpts
from rampway.shadow.report import build_report
from rampway.shadow.tables import shadow_pairs, shadows
from rampway.store import Store


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return doc


def test_compare_and_compare_many_give_the_recorded_comparisons(expected: dict[str, Any]
                                                                ) -> None:
    pairs = traffic()
    recorded = expected["comparisons"]
    assert [comparison_json(compare(p.primary, p.mirrored)) for p in pairs] == recorded
    assert [comparison_json(c) for c in compare_many(pairs)] == recorded


def test_the_report_is_the_recorded_one(expected: dict[str, Any]) -> None:
    report = report_json(traffic())
    assert report == expected["report"]
    assert [f["class"] for f in report["flagged"]] == ["text:dissimilar", "refusal:added"]


@pytest.mark.parametrize("thresholds", [
    Thresholds(), Thresholds(longer=(1.2,), shorter=(0.9, 0.3), dissimilar_below=0.8,
                             json_depth=1, max_field_classes=1)])
def test_compare_many_equals_compare_pair_by_pair(thresholds: Thresholds) -> None:
    pairs = traffic(300, seed=3)
    by_pair = [compare(p.primary, p.mirrored, thresholds) for p in pairs]
    assert compare_many(pairs, thresholds) == by_pair
    # primaries shared or not: the same comparisons
    copied = [replace(p, primary=replace(p.primary)) for p in pairs]
    assert compare_many(copied, thresholds) == by_pair


def test_batched_token_set_scores_equal_single_calls() -> None:
    texts = [(a.primary.text or "", a.mirrored.text or "") for a in traffic(200, seed=5)]
    texts += [("", "x"), ("a" * 900, "a" * 700 + " b"), ("same", "same")]
    assert TOKEN_SET.score_many(texts) == [TOKEN_SET(a, b) for a, b in texts]
    assert TOKEN_SET.score_many([]) == []


# ------------------------------------------------------------------- from the store


def _event(pair: Pair) -> dict[str, Any]:
    prompt = (None if pair.request_excerpt is None else
              json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": pair.request_excerpt}]}))
    return {**answer_columns(pair.primary), "id": pair.request_id, "ts": pair.ts,
            "feature": "bot", "release_id": "bot@v2", "arm": None, "unit_hash": pair.unit_hash,
            "source": "gateway", "protocol": "openai", "stream": False,
            "provider": "sim", "model": "sim-large", "attempts": 1, "fallback_used": False,
            "http_status": 200, "cached_tokens": 0, "prompt_text": prompt,
            "response_text": pair.primary.text}


def _store(store: Store, pairs: list[Pair], keep_text: bool = True) -> None:
    with store.transaction() as conn:
        sid = conn.execute(shadows.insert().values(
            name="s", feature="bot", active_name=None, status="stopped", candidates=["bot@v3"],
            sample_bp=10_000, twin_bp=5_000, salt="shadow:s:1",
            definition={"feature": "bot", "keep_text": keep_text}, ends_at=None, version=2,
            started_at=datetime.now(UTC), actor="t", reason="t", shed=0, over_budget=0,
            expired=0).returning(shadows.c.id)).scalar_one()
        conn.execute(request_events.insert(), with_shape_ids(
            conn, list({p.request_id: _event(p) for p in pairs}.values())))
        conn.execute(shadow_pairs.insert(), [
            {**answer_columns(p.mirrored), "shadow_id": sid, "shadow": "s",
             "request_id": p.request_id, "kind": p.kind, "unit_hash": p.unit_hash, "ts": p.ts,
             "release_id": p.release_id, "provider": "sim", "model": "sim-large-2",
             "output_text": p.mirrored.text} for p in pairs])


def test_pairs_read_from_the_store_give_the_recorded_report(store: Store,
                                                           expected: dict[str, Any]) -> None:
    pairs = traffic()
    _store(store, pairs)
    loaded = list(load_pairs(store, "s"))
    assert loaded == pairs  # ts order = insertion order here; every field read back
    twins = [p for p in loaded if p.kind == "twin"]
    candidate = {p.request_id: p for p in loaded if p.kind == "candidate"}
    assert twins and all(t.primary is candidate[t.request_id].primary for t in twins)
    assert report_json(list(load_pairs(store, "s"))) == expected["report"]


def test_texts_not_kept_are_not_read(store: Store) -> None:
    pairs = traffic(60, seed=2)
    _store(store, pairs, keep_text=False)
    loaded = list(load_pairs(store, "s"))
    assert loaded == [replace(p, primary=replace(p.primary, text=None),
                              mirrored=replace(p.mirrored, text=None), request_excerpt=None)
                      for p in pairs]


def test_pairs_read_without_prompts_give_the_recorded_report(store: Store,
                                                            expected: dict[str, Any]) -> None:
    pairs = traffic()
    _store(store, pairs)
    bare = list(load_pairs(store, "s", excerpts=False))
    assert bare == [replace(p, request_excerpt=None) for p in pairs]
    asked: list[list[str]] = []

    def lookup(ids: Any) -> dict[str, str | None]:
        asked.append(list(ids))
        return request_excerpts(store, "s", ids)

    report = build_report(bare, name="s", excerpts=lookup)
    assert json.loads(json.dumps(report.to_json())) == expected["report"]
    shown = {e["request_id"] for f in expected["report"]["flagged"] for e in f["exemplars"]}
    assert len(asked) == 1 and set(asked[0]) == shown  # one read, for the exemplars alone
    # the same excerpt as the bulk read gives, for any request (None where no prompt is kept)
    ids = [p.request_id for p in pairs]
    assert request_excerpts(store, "s", ids) == {p.request_id: p.request_excerpt for p in pairs}
    assert request_excerpts(store, "s", []) == {}


def test_texts_not_kept_give_no_excerpts(store: Store) -> None:
    pairs = traffic(60, seed=2)
    _store(store, pairs, keep_text=False)
    assert request_excerpts(store, "s", [p.request_id for p in pairs[:5]]) == {
        p.request_id: None for p in pairs[:5]}


def test_the_cli_report_is_the_recorded_one(store: Store, db_url: str, tmp_path: Path,
                                            expected: dict[str, Any]) -> None:
    _store(store, traffic())
    root = tmp_path / "proj"
    root.mkdir()
    (root / "rampway.yaml").write_text(yaml.safe_dump({"database": {"url": db_url}}),
                                       encoding="utf-8")
    result = CliRunner().invoke(app, ["shadow", "report", "s", "--format", "json",
                                      "--project", str(root)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected["report"]
