"""The support assistant's reply: a label line the prompt asks for, then the answer.

A support prompt often wants both: "Start every reply with one line `intent: <label>` … Answer
from the knowledge base below." When the system prompt asks for such a line and the customer
asks something (rather than the turn asking to classify a text), the model gives the label line
(decided exactly as a classification, so label accuracy does not depend on the answer) and
then answers from the knowledge (`knowledge.faq_answer`). Without knowledge that covers the
question it only labels, as a classifier does.

    intent: returns
    Returns: 30 days from delivery, free return label in the account under Orders → Return.
"""

from __future__ import annotations

import re

from rampway.providers.sim._tasks import classification, knowledge
from rampway.providers.sim._tasks._context import Ctx, TaskResult

_LINE = re.compile(r"\b([A-Za-z_]+):\s*<\s*(?:label|intent|category|class|topic)\s*>", re.I)
_ASKS_TO_CLASSIFY = re.compile(r"classif|categori[sz]e|\blabel (this|the|each)|which "
                               r"(category|label|class)", re.I)


def label_line_key(ctx: Ctx) -> str | None:
    """"intent" when the system prompt asks replies to start with `intent: <label>`, unless the
    user turn itself asks to classify something or a JSON schema is the output format."""
    f = ctx.features
    if f.schema is not None or _ASKS_TO_CLASSIFY.search(f.user):
        return None
    found = _LINE.search(f.system)
    return found.group(1) if found else None


def label_and_answer(ctx: Ctx, key: str) -> TaskResult:
    label, label_right = classification.decide(ctx)
    found = knowledge.faq_answer(ctx)
    if found is None:
        return classification.label_reply(ctx, label, label_right)
    answer, answer_right = found
    body = knowledge.render_faq(ctx, answer)
    return TaskResult("faq", content=f"{key}: {label}\n{body}",
                      correct=label_right and answer_right)


__all__ = ["label_and_answer", "label_line_key"]
