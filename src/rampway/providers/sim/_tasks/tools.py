"""Tool use: decide to call an offered function, fill its arguments, and use its result.

A tool matches when the words of its name and description overlap the user's message (a name
word counts double; a score of the model's `tool_match`, 2 by default, is enough), and every
required argument can be filled from the message: ids/numbers/codes from id-like tokens (whole:
A-10442, 12345, ORD-778899; the one fitting the parameter's `pattern` first), emails, cities
after "in/for/to", dates, enum values mentioned, free-text params (query, question, text) from
the whole message. The
model then calls it with its `tool_propensity` (tool_choice "required"/named forces a call,
"none" forbids it). Several ids for a one-id tool become parallel calls. A model that gets the
call wrong passes a realistically wrong id (another id from the prompt, the prefix dropped, two
digits swapped), never a truncated one. After `tool` messages the model answers from their
content.

    where is my order 12345  +  lookup_order(order_id)  →  lookup_order({"order_id": "12345"})
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult
from rampway.providers.types import Message, ToolCall

_STOP = frozenset({
    "a", "an", "the", "of", "to", "for", "in", "on", "by", "and", "or", "is", "are", "be", "get",
    "set", "with", "from", "my", "your", "this", "that", "it", "its", "at", "as", "use", "when",
    "user", "given",
})
# An id: optional letter groups each followed by a separator (A-, ORD-, SHIP-ORD-, INV_), or
# letters glued to the digits (ORD778899), then a digit-led tail. Typographic dashes count as
# hyphens (and are written as "-"). A candidate needs at least 3 digits and is not a date or a
# range ("2024-05-01", "3-5 days", "10-15").
_DASH = "\u2010\u2011\u2012\u2013\u2014\u2212"
_ID = re.compile(rf"(?<![\w{_DASH}-])#?((?:[A-Za-z]{{1,12}}[-_{_DASH}])*[A-Za-z]{{0,12}}\d"
                 rf"[\w{_DASH}-]*)")
_NOT_ID = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}-\d{1,3}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PLACE = re.compile(r"\b(?:in|for|at|to|from)\s+([A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FREE_TEXT = ("query", "q", "text", "question", "search", "message", "input", "prompt", "content",
              "description", "topic", "keywords", "term")


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2}


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function", tool)
    return fn if isinstance(fn, dict) else {}


def _score(fn: dict[str, Any], user_stems: set[str]) -> int:
    name_words = _stems(str(fn.get("name", "")).replace("_", " "))
    desc_words = _stems(str(fn.get("description", ""))) - name_words
    return 2 * len(name_words & user_stems) + len(desc_words & user_stems)


def _ids(text: str) -> list[str]:
    """Id-like tokens of `text`, in order, without duplicates: A-10442, 12345, ORD-778899."""
    found: list[str] = []
    for match in _ID.finditer(text):
        token = re.sub(f"[{_DASH}]", "-", match.group(1)).rstrip("-_")
        if sum(c.isdigit() for c in token) >= 3 and not _NOT_ID.fullmatch(token):
            found.append(token)
    return list(dict.fromkeys(found))


def _fitting(ids: list[str], pattern: object) -> list[str]:
    """The ids that fit a parameter's JSON-schema `pattern`; all of them if none does (or there
    is no usable pattern): a model reads the schema, but still passes what the user gave."""
    if not isinstance(pattern, str):
        return ids
    try:
        fit = [i for i in ids if re.search(pattern, i)]
    except re.error:
        return ids
    return fit or ids


def _fill_one(name: str, prop: dict[str, Any], text: str) -> Any:
    """A value for parameter `name` from `text`, or None when the message doesn't contain one."""
    low = name.lower()
    kind = prop.get("type", "string")
    if isinstance(prop.get("enum"), list):
        return next((v for v in prop["enum"] if str(v).lower() in text.lower()), None)
    if "email" in low:
        m = _EMAIL.search(text)
        return m.group(0) if m else None
    if re.search(r"(^|_)(id|number|no|code|sku|ref|reference)$", low) or low == "id":
        ids = _fitting(_ids(text), prop.get("pattern"))
        return ids[0] if ids else None
    if re.search(r"city|location|place|destination|country|region", low):
        m = _PLACE.search(text)
        return m.group(1) if m else None
    if kind in ("integer", "number"):
        m = _NUMBER.search(text)
        return None if m is None else (int(float(m.group(0))) if kind == "integer"
                                       else float(m.group(0)))
    if low in _FREE_TEXT or any(low.endswith(f"_{w}") for w in _FREE_TEXT):
        return text.strip()
    return None


def _property(fn: dict[str, Any], name: str) -> dict[str, Any]:
    props = (fn.get("parameters") or {}).get("properties") or {}
    prop = props.get(name) if isinstance(props, dict) else None
    return prop if isinstance(prop, dict) else {}


def _arguments(fn: dict[str, Any], text: str) -> tuple[dict[str, Any], list[str]]:
    """(filled arguments, names of required parameters that could not be filled)."""
    params = fn.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required = list(params.get("required") or [])
    args: dict[str, Any] = {}
    for name, prop in props.items():
        value = _fill_one(name, prop if isinstance(prop, dict) else {}, text)
        if value is not None:
            args[name] = value
    return args, [r for r in required if r not in args]


def call_id(ctx: Ctx, n: int) -> str:
    digest = hashlib.sha256(f"{ctx.style_rng.getrandbits(64)}:{n}".encode()).hexdigest()
    return "call_" + digest[:24]


def _forced_name(tool_choice: str | dict[str, Any] | None) -> str | None:
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function") or {}
        return str(fn.get("name") or tool_choice.get("name") or "") or None
    return None


def _pick(ctx: Ctx) -> tuple[dict[str, Any] | None, bool]:
    """(function to call, whether the call is forced by tool_choice)."""
    tools = [_function(t) for t in ctx.request.tools or []]
    choice = ctx.request.tool_choice
    forced = _forced_name(choice)
    if forced:
        return next((fn for fn in tools if fn.get("name") == forced), None), True
    user_stems = _stems(ctx.features.user)
    scored = sorted(((_score(fn, user_stems), i) for i, fn in enumerate(tools)), reverse=True)
    best = tools[scored[0][1]] if scored and scored[0][0] >= ctx.profile.tool_match else None
    if choice in ("required", "any"):
        return best or (tools[0] if tools else None), True
    return best, False


def _transposed(value: str, ctx: Ctx) -> str:
    """Two adjacent digits swapped (A-10442 → A-10424), or one digit changed if none differ
    (or, without any digit, the last character dropped)."""
    spots = [i for i in range(len(value) - 1)
             if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]]
    if spots:
        i = ctx.case_rng.choice(spots)
        return value[:i] + value[i + 1] + value[i] + value[i + 2:]
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    if not digits:  # a name-like id ("Paris"): its last letter lost, still never `value`
        return value[:-1] if len(value) > 1 else value + "1"
    last = digits[-1]
    return value[:last] + str((int(value[last]) + 1) % 10) + value[last + 1:]


def _wrong_id(value: str, ctx: Ctx) -> str:
    """The id a model that gets the call wrong passes: a mistake real models make, never a
    truncation. It copies another id seen in the prompt (a few-shot example's, say), drops the
    letter prefix (A-10442 → 10442), or swaps two digits. Always differs from `value`."""
    context = "\n".join([ctx.features.system, *(m.content or "" for m in ctx.features.history)])
    others = [i for i in _ids(context) if i != value]
    u = ctx.case_rng.random()
    if others and u < 0.3:
        return ctx.case_rng.choice(others)
    bare = re.sub(r"^[A-Za-z_-]+", "", value)
    if u < 0.5 and bare != value and any(c.isdigit() for c in bare):
        return bare
    return _transposed(value, ctx)


def plan_tool_calls(ctx: Ctx) -> TaskResult | None:
    """Tool calls for this turn, an ask for a missing argument, or None (answer normally)."""
    if not ctx.request.tools or ctx.request.tool_choice == "none":
        return None
    fn, forced = _pick(ctx)
    if fn is None:
        return None
    if not forced and ctx.case_rng.random() >= ctx.profile.tool_propensity:
        return None
    args, missing = _arguments(fn, ctx.features.user)
    if missing and not forced:
        want = missing[0].replace("_", " ")
        answer = Answer(core=f"Could you tell me the {want}?",
                        sentence=f"I can look that up for you. Could you tell me the {want}?")
        return TaskResult("tools", content=render(answer, ctx.features, ctx.profile,
                                                  ctx.style_rng), correct=None)
    for name in missing:
        args[name] = ""
    correct = ctx.draw_correct("tools")
    id_params = [k for k in args if re.search(r"(^|_)(id|number|no|code)$", k.lower())]
    if not correct and id_params and isinstance(args[id_params[0]], str):
        args[id_params[0]] = _wrong_id(args[id_params[0]], ctx)
    variants = [args]
    ids = _fitting(_ids(ctx.features.user), _property(fn, id_params[0]).get("pattern")
                   if id_params else None)
    if (len(ids) > 1 and len(id_params) == 1 and correct
            and ctx.request.extra.get("parallel_tool_calls", True) is not False):
        variants = [{**args, id_params[0]: value} for value in ids]
    calls = [ToolCall(call_id(ctx, i), str(fn.get("name")), json.dumps(v))
             for i, v in enumerate(variants)]
    return TaskResult("tools", tool_calls=calls, correct=correct)


def pending_tool_results(messages: list[Message]) -> list[tuple[str, str]] | None:
    """(tool name, result) pairs after the last assistant tool call, if the turn ends on them."""
    if not messages or messages[-1].role != "tool":
        return None
    names: dict[str, str] = {}
    for m in messages:
        for tc in m.tool_calls or []:
            names[tc.id] = tc.name
    results: list[tuple[str, str]] = []
    for m in reversed(messages):
        if m.role != "tool":
            break
        results.append((names.get(m.tool_call_id or "", m.name or "tool"), m.content or ""))
    return list(reversed(results))


def _describe(name: str, raw: str) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return f"{name.replace('_', ' ')} returned: {raw.strip()}"
    if isinstance(data, dict):
        if "error" in data:
            return f"I couldn't complete that: {data['error']}."
        facts = "; ".join(f"{str(k).replace('_', ' ')}: {v}" for k, v in data.items())
        return f"Here is what I found — {facts}."
    return f"{name.replace('_', ' ')} returned: {json.dumps(data)}"


def answer_from_tools(ctx: Ctx, results: list[tuple[str, str]]) -> TaskResult:
    text = " ".join(_describe(name, raw) for name, raw in results)
    answer = Answer(core=text, sentence=text,
                    extras=["Is there anything else I can check for you?"])
    return TaskResult("tool_answer", content=render(answer, ctx.features, ctx.profile,
                                                    ctx.style_rng), correct=True)


__all__ = ["answer_from_tools", "pending_tool_results", "plan_tool_calls"]
