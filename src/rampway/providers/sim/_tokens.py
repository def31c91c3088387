"""A deterministic tokenizer approximation (~4 characters per token on English prose).

Real BPE vocabularies are not available offline, and the simulator only needs counts that move
the way real ones do: longer text, more tokens; digits grouped by three; punctuation one each.
`pieces(text)` splits text into token-sized pieces whose concatenation is exactly `text`, so a
streamed answer is the sum of its chunks and `count(text) == len(pieces(text))`.

    pieces("Hello, world!")  # ['Hello', ',', ' world', '!']
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from typing import Any

_PIECE = re.compile(r"\s*(?:[A-Za-z]{1,6}|\d{1,3}|[^\sA-Za-z\d])|\s+")

MESSAGE_OVERHEAD = 4  # role markers and separators, as in OpenAI's chat format
PROMPT_OVERHEAD = 3  # the primed assistant turn


def pieces(text: str) -> list[str]:
    """Token-sized pieces of `text`; ''.join(pieces(t)) == t."""
    return _PIECE.findall(text)


def logprobs(text: str, top: int) -> dict[str, Any]:
    """OpenAI-shaped `logprobs` for `text`: one entry per piece, each with `top` alternatives.

    Deterministic (a CRC of the piece), in (-2, 0]; the chosen piece is always the most likely
    of its alternatives, as with a real model sampled at temperature 0.
    Example: `logprobs("Hi there", 1)["content"][0]["token"]` → "Hi".
    """
    content = []
    for piece in pieces(text):
        chosen = -(zlib.crc32(piece.encode()) % 1000) / 500
        alternatives = [(piece, chosen)] + [(f"{piece}{'~' * i}", chosen - i) for i in
                                            range(1, top)]
        content.append({
            "token": piece, "logprob": round(chosen, 4), "bytes": list(piece.encode()),
            "top_logprobs": [{"token": t, "logprob": round(lp, 4), "bytes": list(t.encode())}
                             for t, lp in alternatives[:top]],
        })
    return {"content": content, "refusal": None}


def count(text: str | None) -> int:
    """Approximate token count of `text` (0 for None or '')."""
    if not text:
        return 0
    return sum(1 for _ in _PIECE.finditer(text))


def count_json(value: Any) -> int:
    """Tokens of a JSON value as the model would see it (compact dump)."""
    return count(json.dumps(value, separators=(",", ":"), sort_keys=True))


def count_prompt(texts: Iterable[str | None], n_messages: int, extra: Any = None) -> int:
    """Prompt tokens: message texts + per-message overhead + tools/schema as JSON."""
    total = sum(count(t) for t in texts) + MESSAGE_OVERHEAD * n_messages + PROMPT_OVERHEAD
    if extra:
        total += count_json(extra)
    return total


__all__ = ["MESSAGE_OVERHEAD", "PROMPT_OVERHEAD", "count", "count_json", "count_prompt",
           "logprobs", "pieces"]
