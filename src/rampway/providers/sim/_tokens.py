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
from collections.abc import Iterable
from typing import Any

_PIECE = re.compile(r"\s*(?:[A-Za-z]{1,6}|\d{1,3}|[^\sA-Za-z\d])|\s+")

MESSAGE_OVERHEAD = 4  # role markers and separators, as in OpenAI's chat format
PROMPT_OVERHEAD = 3  # the primed assistant turn


def pieces(text: str) -> list[str]:
    """Token-sized pieces of `text`; ''.join(pieces(t)) == t."""
    return _PIECE.findall(text)


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


__all__ = ["MESSAGE_OVERHEAD", "PROMPT_OVERHEAD", "count", "count_json", "count_prompt", "pieces"]
