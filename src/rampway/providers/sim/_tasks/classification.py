"""Intent classification with labels taken from the prompt.

Labels come from the response_format schema (an `enum`), or from the prompt ("Classify into:
billing, shipping, returns, other"), else a default support set. The true label is the one
whose lexicon (synonyms of its name) best matches the text; a wrong answer is another label.
Listing the labels in the prompt helps (+0.4 logit): without them the model guesses names.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult

DEFAULT_LABELS = ("billing", "shipping", "returns", "account", "technical", "other")
_LEXICON: dict[str, tuple[str, ...]] = {
    "billing": ("charge", "charged", "invoice", "payment", "bill", "billed", "credit card",
                "subscription", "price", "overcharged", "fee", "receipt"),
    "shipping": ("ship", "shipping", "shipped", "delivery", "deliver", "delivered", "package",
                 "parcel", "tracking", "arrive", "arrived", "courier", "transit"),
    "returns": ("return", "returning", "refund", "exchange", "send back", "send it back",
                "wrong size"),
    "account": ("password", "login", "log in", "sign in", "account", "username", "email address",
                "locked out", "2fa", "profile"),
    "technical": ("error", "crash", "crashes", "bug", "not working", "broken", "app", "website",
                  "loading", "glitch"),
    "cancellation": ("cancel", "cancellation", "unsubscribe", "terminate"),
    "complaint": ("terrible", "awful", "unacceptable", "angry", "disappointed", "worst"),
    "praise": ("love", "great", "amazing", "thank you", "thanks", "excellent", "awesome"),
    "sales": ("buy", "purchase", "pricing", "quote", "discount", "bulk", "demo"),
    "positive": ("love", "great", "amazing", "excellent", "awesome", "happy", "good"),
    "negative": ("terrible", "awful", "hate", "bad", "worst", "disappointed", "broken"),
}
_FALLBACK = ("other", "general", "unknown", "misc", "none", "neutral")
_CLASSIFY = re.compile(r"classif|categori[sz]e|\bintent\b|which (category|label|class)"
                       r"|\blabel (this|the|each)|sentiment", re.I)
_LABEL_LIST = re.compile(
    r"(?:into|as|labels?|categories|classes|intents?|options?|one of)\s*(?:one of)?\s*[:\-]?\s*"
    r"\[?((?:[\"'`]?[A-Za-z_][\w\-]*[\"'`]?)(?:\s*(?:,|/|\||\bor\b)\s*(?:or\s+)?"
    r"[\"'`]?[A-Za-z_][\w\-]*[\"'`]?)+)",
    re.I,
)
_TEXT_MARK = re.compile(r"(?:text|message|customer|query|input|ticket|email|review)\s*:\s*(.+)",
                        re.I | re.S)


def is_classification(ctx: Ctx) -> bool:
    f = ctx.features
    if _CLASSIFY.search(f"{f.system}\n{f.user}"):
        return True
    small_schema = len((f.schema or {}).get("properties") or {}) <= 2
    return small_schema and enum_property(f.schema) is not None


def enum_property(schema: dict[str, Any] | None) -> tuple[str, list[str]] | None:
    """(property name, enum values) of the first string enum in an object schema."""
    if not schema:
        return None
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and prop["enum"]:
            return name, [str(v) for v in prop["enum"]]
    return None


def labels_from_prompt(ctx: Ctx) -> list[str] | None:
    enum = enum_property(ctx.features.schema)
    if enum:
        return enum[1]
    for source in (ctx.features.system, ctx.features.user):
        match = _LABEL_LIST.search(source)
        if match:
            raw = re.split(r"\s*(?:,|/|\||\bor\b)\s*", match.group(1))
            labels = [w.strip("\"'` ").strip() for w in raw]
            labels = [w for w in labels if w and w.lower() != "or"]
            if len(labels) >= 2:
                return labels
    return None


def text_to_classify(ctx: Ctx) -> str:
    marked = _TEXT_MARK.search(ctx.features.user)
    if marked:
        return marked.group(1)
    quoted = re.search(r"[\"“]([^\"”]{3,})[\"”]", ctx.features.user)
    if quoted:
        return quoted.group(1)
    lines = [ln for ln in ctx.features.user.splitlines() if not _CLASSIFY.search(ln)]
    return "\n".join(lines) or ctx.features.user


def _lexicon_for(label: str) -> tuple[str, ...]:
    low = label.lower().replace("_", " ").replace("-", " ")
    label_words = set(low.split())
    words: list[str] = [low]
    for key, synonyms in _LEXICON.items():
        if key in low or low in key or label_words & set(synonyms):
            words.extend(synonyms)
    return tuple(words)


_TOPICAL = ("billing", "shipping", "returns", "account", "technical", "cancellation")


def _hay(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def concepts(text: str) -> set[str]:
    """The support topics `text` touches (billing, shipping, …), by the same lexicon as labels:
    "my parcel hasn't arrived" and "standard delivery takes 2 days" share "shipping"."""
    hay = _hay(text)
    return {key for key in _TOPICAL if any(f" {w}" in hay for w in _LEXICON[key])}


def true_label(text: str, labels: list[str]) -> str:
    """The label whose lexicon best matches `text`; ties go to the first listed."""
    hay = _hay(text)
    scores = [sum(1 for w in _lexicon_for(lab) if f" {w}" in hay) for lab in labels]
    best = max(scores)
    if best == 0:
        fallback = [lab for lab in labels if lab.lower() in _FALLBACK]
        return fallback[0] if fallback else labels[-1]
    return labels[scores.index(best)]


def decide(ctx: Ctx) -> tuple[str, bool]:
    """(label the model gives, whether it is the true one). Consumes the case draws."""
    listed = labels_from_prompt(ctx)
    labels = listed or list(DEFAULT_LABELS)
    truth = true_label(text_to_classify(ctx), labels)
    correct = ctx.draw_correct("classification", 0.0 if listed else 0.4)
    label = truth
    if not correct:
        label = ctx.case_rng.choice([lab for lab in labels if lab != truth] or labels)
    return label, correct


def classify(ctx: Ctx) -> TaskResult:
    label, correct = decide(ctx)
    return label_reply(ctx, label, correct)


def label_reply(ctx: Ctx, label: str, correct: bool) -> TaskResult:
    """The label as JSON (schema with an enum) or as a sentence in the model's style."""
    enum = enum_property(ctx.features.schema)
    if enum is not None:
        return TaskResult("classification", content=json.dumps({enum[0]: label}), correct=correct)
    answer = Answer(core=label, sentence=f"The intent is {label}.",
                    extras=["This is based on the main request in the message.",
                            "The wording points clearly in that direction."])
    return TaskResult("classification",
                      content=render(answer, ctx.features, ctx.profile, ctx.style_rng),
                      correct=correct)


__all__ = ["DEFAULT_LABELS", "classify", "concepts", "decide", "is_classification", "label_reply",
           "labels_from_prompt", "true_label"]
