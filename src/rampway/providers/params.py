"""Which OpenAI request parameters each provider kind can honour.

The gateway forwards every generation parameter an app sends; a parameter the serving
provider's wire format has no equivalent for is refused with a 400 naming it rather than
dropped, so an app never believes it got `seed` determinism or `logprobs` it did not get.
Checked against every target of the call (primary and fallbacks), before any upstream call.

    unsupported("anthropic", {"temperature", "seed"})   # → ["seed"]
"""

from __future__ import annotations

from collections.abc import Iterable

#: Parameters beyond the normalized ChatRequest fields, carried in `ChatRequest.extra`.
EXTRA_PARAMS = ("frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
                "top_logprobs", "top_k")

_ANTHROPIC_LACKS = frozenset({"frequency_penalty", "presence_penalty", "logit_bias", "seed",
                              "logprobs", "top_logprobs"})

UNSUPPORTED: dict[str, frozenset[str]] = {
    "openai": frozenset(),  # OpenAI and the compatible servers take the whole set
    "anthropic": _ANTHROPIC_LACKS,  # Messages API: stop_sequences and top_k, no penalties/seed
    "sim": frozenset({"logit_bias"}),  # the simulator has no token ids to bias
    "local": frozenset({"frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
                        "top_logprobs"}),  # llama.cpp sampling: repeat_penalty, seed, stop
}


def unsupported(kind: str, params: Iterable[str]) -> list[str]:
    """The names among `params` a provider of `kind` cannot honour, sorted."""
    lacking = UNSUPPORTED.get(kind, frozenset())
    return sorted(p for p in params if p in lacking)


__all__ = ["EXTRA_PARAMS", "UNSUPPORTED", "unsupported"]
