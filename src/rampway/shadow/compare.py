"""Compare two answers to the same request and name what differs: *difference classes*.

A class is a stable string key, `<family>:<detail>`, present on a pair when that kind of
difference shows between the primary (served) answer and the mirrored one. Classes are what the
noise floor counts (how often does `json_field:intent` differ for the candidate vs for the
primary's own twin?), so each is a yes/no fact about one pair, directional where it matters
(`refusal:added` = the mirrored answer refused where the primary did not):

    failure:error | failure:timeout | failure:truncated | failure:empty
    failure:invalid_json | failure:schema       the mirrored answer failed where the primary didn't
    refusal:added | refusal:dropped
    tool_call:added | tool_call:dropped | tool_call:name | tool_call:count
    tool_call:arg_keys | tool_call:argument:<key> | tool_call:invalid_arguments
    json_field:<path>                           a field's value differs (or is missing on a side)
    verbosity:longer_1.5x | verbosity:longer_2x  the mirrored answer is ≥ 1.5× / ≥ 2× as long
    verbosity:shorter_0.67x | verbosity:shorter_0.5x
    text:formatting                             equal once case and whitespace are ignored
    text:different | text:dissimilar            different; similarity below the threshold too
                                                (token set; or meaning: `similarity: embedding`)

A class's rate is counted among the pairs whose primary answer could show it — its *scope*
(`class_scope`): verbosity and text among plain-text primaries, JSON fields and JSON failures
among JSON primaries, argument differences among primaries that called a tool, `tool_call:added`
among those that did not, `refusal:dropped` among refusals, the rest among all pairs. So
"2× longer on 9% of text answers" is not diluted by the JSON and tool traffic beside it.

Only comparable parts are compared: an errored side yields failure classes only; text classes
apply to plain-text answers (neither side JSON, a tool call or a refusal); `failure:schema` is a
proxy for a schema violation when no schema is kept — the mirrored JSON lacks a top-level key
the primary's has, or is another kind of document. Texts that were not kept (`text=None`) leave
the numeric and structural comparisons (verbosity falls back to output tokens).

    >>> a = Answer(text="Your order ships Monday.")
    >>> sorted(compare(a, Answer(text="Your order ships Monday. " * 3)).classes)
    ['text:different', 'verbosity:longer_1.5x', 'verbosity:longer_2x']
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
from rapidfuzz import fuzz, process

from rampway._textmatch import loose_equal, normalize_text, parse_json_output, refusal_wording
from rampway.shadow.model import Answer, Pair, ToolUse, slot_setters

FAILURE_ERROR = "failure:error"
FAILURE_TIMEOUT = "failure:timeout"
FAILURE_TRUNCATED = "failure:truncated"
FAILURE_EMPTY = "failure:empty"
FAILURE_INVALID_JSON = "failure:invalid_json"
FAILURE_SCHEMA = "failure:schema"
REFUSAL_ADDED = "refusal:added"
REFUSAL_DROPPED = "refusal:dropped"
TOOL_ADDED = "tool_call:added"
TOOL_DROPPED = "tool_call:dropped"
TOOL_NAME = "tool_call:name"
TOOL_COUNT = "tool_call:count"
TOOL_ARG_KEYS = "tool_call:arg_keys"
TOOL_INVALID_ARGUMENTS = "tool_call:invalid_arguments"
TOOL_ARGUMENT = "tool_call:argument:"  # + the argument's name
JSON_FIELD = "json_field:"  # + the field's dotted path
TEXT_FORMATTING = "text:formatting"
TEXT_DIFFERENT = "text:different"
TEXT_DISSIMILAR = "text:dissimilar"

FAILURE_KINDS = ("error", "timeout", "truncated", "empty", "invalid_json", "schema")

SCOPE_ALL, SCOPE_TEXT, SCOPE_JSON = "all", "text", "json"
SCOPE_TOOL, SCOPE_NO_TOOL, SCOPE_REFUSED = "tool", "no_tool", "refused"
_MAX_KEY = 64  # a model can emit any key: class names stay short and bounded in number


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a measured difference becomes a class. Each verbosity ratio is a class of its own,
    named after it (`verbosity:longer_1.5x`); a 2× longer answer is also 1.5× longer."""

    longer: tuple[float, ...] = (1.5, 2.0)
    shorter: tuple[float, ...] = (0.67, 0.5)
    dissimilar_below: float | None = None  # text similarity in [0, 1]; None: the scorer's
    json_depth: int = 3  # nested objects compared this deep; deeper values compared whole
    max_field_classes: int = 20  # per pair: json_field / tool_call:argument classes


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Comparison:
    """What one pair's comparison found. `None` = not applicable (a text not kept, an error)."""

    classes: frozenset[str]
    exact_equal: bool | None = None
    normalized_equal: bool | None = None
    similarity: float | None = None
    length_ratio: float | None = None
    primary_json: bool = False
    scopes: frozenset[str] = frozenset({SCOPE_ALL})
    primary_failures: frozenset[str] = frozenset()  # FAILURE_KINDS, plus "refusal"
    mirrored_failures: frozenset[str] = frozenset()


# ------------------------------------------------------------------- text


def normalized_equal(a: str, b: str) -> bool:
    """Equal once case, Unicode width, whitespace, wrapping quotes and end punctuation are
    ignored (the eval scorers' `normalize_text`).

    >>> normalized_equal("Paris.", "  paris")
    True
    """
    return normalize_text(a) == normalize_text(b)


def similarity(a: str, b: str) -> float:
    """Token-set similarity in [0, 1] (rapidfuzz's `token_set_ratio` on the first 500
    characters of the normalized texts, which bounds its cost): word order and repeated words
    don't count, so a reworded equivalent scores high.

    >>> similarity("the order ships monday", "Monday the order ships!")
    1.0
    """
    return _similarity_normalized(normalize_text(a), normalize_text(b))


SIMILARITY_CHARS = 500  # the cost grows with the product of the lengths: compare the heads


def _similarity_normalized(a: str, b: str) -> float:
    return float(fuzz.token_set_ratio(a[:SIMILARITY_CHARS], b[:SIMILARITY_CHARS])) / 100.0


class TextSimilarity(Protocol):
    """How two normalized texts are scored in [0, 1] (`text:dissimilar` below the threshold).
    `prepare` sees every text a report will score before the first call, so a scorer that
    batches (embeddings) can; it may ignore them, and need not even iterate."""

    @property
    def name(self) -> str: ...

    @property
    def dissimilar_below(self) -> float:
        """`text:dissimilar` below this, unless `Thresholds` sets another."""

    def __call__(self, a: str, b: str) -> float: ...

    def prepare(self, texts: Iterable[str]) -> None: ...

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """`[self(a, b) for a, b in pairs]`, in one batch where the scorer can."""


class TokenSetSimilarity:
    """The default: rapidfuzz's token-set ratio on the heads of the texts (`similarity`)."""

    name = "token_set"
    dissimilar_below = 0.5

    def __call__(self, a: str, b: str) -> float:
        return _similarity_normalized(a, b)

    def prepare(self, texts: Iterable[str]) -> None:
        """Nothing to prepare (the texts are not even iterated)."""

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One rapidfuzz call for all the pairs: the same ratios (in float64), without a Python
        call per pair, spread over the machine's cores (each ratio is independent of the rest)."""
        if not pairs:
            return []
        ratios = process.cpdist([a[:SIMILARITY_CHARS] for a, _ in pairs],
                                [b[:SIMILARITY_CHARS] for _, b in pairs],
                                scorer=fuzz.token_set_ratio, dtype=np.float64, workers=-1)
        scores: list[float] = (ratios / 100.0).tolist()
        return scores


TOKEN_SET = TokenSetSimilarity()


def similarity_inputs(primary: Answer, mirrored: Answer) -> tuple[str, str] | None:
    """The normalized texts `compare` may score for similarity, None when it surely won't (a
    failed side, a tool call, a JSON primary, texts equal once normalized). A superset: a
    refusal is still listed. For `TextSimilarity.prepare`."""
    a, b = primary.text, mirrored.text
    if (a is None or b is None or a == b or primary.status != "ok" or mirrored.status != "ok"
            or primary.tool_calls or mirrored.tool_calls or json_document(a) is not NOT_JSON):
        return None
    na, nb = normalize_text(a), normalize_text(b)
    return None if na == nb else (na, nb)


def texts_to_score(pairs: Iterable[Pair]) -> Iterator[str]:
    """Every text `similarity_inputs` lists for the pairs, lazily."""
    for pair in pairs:
        texts = similarity_inputs(pair.primary, pair.mirrored)
        if texts is not None:
            yield from texts


# ------------------------------------------------------------------- JSON

NOT_JSON: Any = object()  # "not a JSON object or array"


def json_document(text: str | None) -> Any:
    """The answer's JSON object or array (a Markdown fence around it is tolerated), or
    `NOT_JSON`. A bare number or string is not a structured answer."""
    if text is None:
        return NOT_JSON
    head = text.lstrip()[:1]
    if head not in ("{", "[", "`"):
        return NOT_JSON  # fast path: most plain-text answers never reach the parser
    try:
        document = parse_json_output(text)
    except ValueError:
        return NOT_JSON
    return document if isinstance(document, dict | list) else NOT_JSON



def json_field_differences(primary: Any, mirrored: Any, *, depth: int = 3,
                           limit: int = 20) -> list[str]:
    """Dotted paths whose values differ (loosely: case, 12 vs 12.0), a key missing on either
    side included. Objects are descended `depth` levels; arrays are compared whole.

    >>> json_field_differences({"intent": "refund", "a": {"b": 1}}, {"intent": "Refund", "a": {}})
    ['a.b']
    """
    out: list[str] = []
    _diff_paths(primary, mirrored, "", depth, limit, out)
    return out


def _diff_paths(a: Any, b: Any, prefix: str, depth: int, limit: int, out: list[str]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping) and depth > 0:
        for key in sorted({str(k) for k in a} | {str(k) for k in b}):
            if len(out) >= limit:
                return
            path = f"{prefix}{key[:_MAX_KEY]}"
            if key not in a or key not in b:
                out.append(path)
            else:
                _diff_paths(a[key], b[key], path + ".", depth - 1, limit, out)
        return
    if a != b and not loose_equal(a, b):
        out.append(prefix[:-1] if prefix else "$")  # "$": the documents differ as a whole


def schema_violated(primary: Any, mirrored: Any) -> bool:
    """The mirrored document is another kind (array vs object) or lacks a top-level key of the
    primary's: what a schema that the primary satisfies would most likely reject."""
    if isinstance(primary, Mapping) != isinstance(mirrored, Mapping):
        return True
    return isinstance(primary, Mapping) and any(k not in mirrored for k in primary)


# ------------------------------------------------------------------- tool calls


def _arguments(call: ToolUse) -> Any:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return NOT_JSON
    return value if isinstance(value, dict) else NOT_JSON


def tool_call_differences(primary: Sequence[ToolUse], mirrored: Sequence[ToolUse],
                          *, limit: int = 20) -> set[str]:
    """Classes for the tool calls: which tool (added, dropped, another name, another number of
    calls), then per call in name order the argument keys and values.

    >>> sorted(tool_call_differences([ToolUse("lookup", '{"id": "A-1"}')],
    ...                              [ToolUse("lookup", '{"id": "A-2"}')]))
    ['tool_call:argument:id']
    """
    if not primary and not mirrored:
        return set()
    if not primary:
        return {TOOL_ADDED}
    if not mirrored:
        return {TOOL_DROPPED}
    a = sorted(primary, key=lambda c: (c.name, c.arguments))
    b = sorted(mirrored, key=lambda c: (c.name, c.arguments))
    if sorted({c.name for c in a}) != sorted({c.name for c in b}):
        return {TOOL_NAME}
    if len(a) != len(b):
        return {TOOL_COUNT}
    out: set[str] = set()
    for ca, cb in zip(a, b, strict=True):
        out |= _argument_differences(_arguments(ca), _arguments(cb), limit)
    return out


def _argument_differences(a: Any, b: Any, limit: int) -> set[str]:
    if b is NOT_JSON:
        return set() if a is NOT_JSON else {TOOL_INVALID_ARGUMENTS}
    if a is NOT_JSON:
        return set()
    out: set[str] = set()
    if set(a) != set(b):
        out.add(TOOL_ARG_KEYS)
    for key in sorted(set(a) & set(b))[:limit]:
        if a[key] != b[key] and not loose_equal(a[key], b[key]):
            out.add(TOOL_ARGUMENT + str(key)[:_MAX_KEY])
    return out


# ------------------------------------------------------------------- one answer


# Without one of these the eval scorers' refusal pattern (`refusal_wording`) cannot match (it
# reads the first 400 characters, ignoring case): a cheap test that spares that regex on almost
# every answer.
_NOT_ABLE = re.compile(r"not\s+able")
_WILL_NOT = re.compile(r"will\s+not")


def _may_refuse(text: str) -> bool:
    head = text[:400].casefold()
    return ("can't" in head or "cannot" in head or "won't" in head or "sorry" in head
            or "afraid" in head or "unable" in head
            or ("able" in head and _NOT_ABLE.search(head) is not None)
            or ("will" in head and _WILL_NOT.search(head) is not None))


def refused(answer: Answer) -> bool:
    """The answer declined: the refusal flag, a content filter, or refusal wording (the eval
    scorers' `looks_like_refusal`)."""
    if answer.refusal or answer.finish_reason == "content_filter":
        return True
    text = answer.text
    return bool(text) and _may_refuse(text or "") and refusal_wording(text or "")


def is_empty(answer: Answer) -> bool:
    """Succeeded, said nothing: no text (or no output tokens when texts are not kept), no tool
    call, no refusal."""
    if answer.status != "ok" or answer.tool_calls or answer.refusal:
        return False
    if answer.text is not None:
        return not answer.text.strip()
    return answer.output_tokens == 0


_NO_FAILURE: frozenset[str] = frozenset()
_REFUSAL = frozenset({"refusal"})


def failure_kinds(answer: Answer, *, expects_json: Any = NOT_JSON,
                  document: Any = NOT_JSON) -> frozenset[str]:
    """How an answer failed (a subset of `FAILURE_KINDS`). With `expects_json` (the primary's
    JSON document) the answer's own `document` is checked for validity and schema."""
    if answer.status != "ok":
        code = (answer.error_code or "").lower()
        return frozenset({"timeout" if "timeout" in code or "timed_out" in code else "error"})
    if (answer.finish_reason != "length"
            and (answer.tool_calls or (answer.text and not answer.text.isspace()))
            and (expects_json is NOT_JSON or document is not NOT_JSON and
                 not schema_violated(expects_json, document))):
        return _NO_FAILURE  # the common case, without building a set
    kinds: set[str] = set()
    if answer.finish_reason == "length":
        kinds.add("truncated")
    if is_empty(answer):
        kinds.add("empty")
    if expects_json is not NOT_JSON and answer.text is not None and not answer.tool_calls:
        if document is NOT_JSON:
            kinds.add("invalid_json")
        elif schema_violated(expects_json, document):
            kinds.add("schema")
    return frozenset(kinds)


def _length(answer: Answer, use_text: bool) -> int:
    return len(answer.text or "") if use_text else answer.output_tokens


# ------------------------------------------------------------------- scopes


def class_scope(name: str) -> str:
    """Among which pairs a class's rate is counted (see the module docstring).

    >>> class_scope("json_field:intent"), class_scope("tool_call:added")
    ('json', 'no_tool')
    """
    if name.startswith(JSON_FIELD) or name in (FAILURE_INVALID_JSON, FAILURE_SCHEMA):
        return SCOPE_JSON
    if name.startswith(("text:", "verbosity:")):
        return SCOPE_TEXT
    if name == TOOL_ADDED:
        return SCOPE_NO_TOOL
    if name.startswith("tool_call:"):
        return SCOPE_TOOL
    if name == REFUSAL_DROPPED:
        return SCOPE_REFUSED
    return SCOPE_ALL


_SCOPES = {key: frozenset({SCOPE_ALL, *key}) for key in (
    (), (SCOPE_REFUSED,), (SCOPE_TOOL,), (SCOPE_NO_TOOL,), (SCOPE_NO_TOOL, SCOPE_JSON),
    (SCOPE_NO_TOOL, SCOPE_TEXT))}


def primary_scopes(primary: Answer, *, is_json: bool, is_refusal: bool,
                   empty: bool) -> frozenset[str]:
    """The scopes a pair belongs to, from its primary answer alone (so that candidate and twin
    pairs of the same requests count among the same pairs)."""
    if primary.status != "ok" or empty:
        return _SCOPES[()]
    if is_refusal:
        return _SCOPES[(SCOPE_REFUSED,)]
    if primary.tool_calls:
        return _SCOPES[(SCOPE_TOOL,)]
    return _SCOPES[(SCOPE_NO_TOOL, SCOPE_JSON if is_json else SCOPE_TEXT)]


# ------------------------------------------------------------------- a pair


class _Text:
    """What an answer's text shows on its own: its JSON document, refusal wording, a brace, its
    normalized form. `compare_many` works it out once per distinct text: templated answers,
    extractions and refusals repeat across a report's pairs (a sixth of the bench's texts)."""

    __slots__ = ("brace", "doc", "refusal_wording", "said", "text", "_normalized")

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.said = bool(text) and not (text or "").isspace()
        self.doc = json_document(text)
        self.refusal_wording = bool(text) and _may_refuse(text or "") and refusal_wording(
            text or "")
        self.brace = text is not None and "{" in text
        self._normalized: str | None = None

    def normalized(self) -> str:
        """`normalize_text` of the text (not None), once."""
        if self._normalized is None:
            self._normalized = normalize_text(self.text or "")
        return self._normalized


class _Side:
    """What one answer shows on its own, whatever it is compared with. `compare_many` works it
    out once per answer: a primary is shared by its request's candidate and twin pairs."""

    __slots__ = ("brace", "doc", "normalized", "ok", "refused", "sound")

    def __init__(self, answer: Answer, text: _Text) -> None:
        self.ok = ok = answer.status == "ok"
        # `failure_kinds` finds nothing, unless JSON is owed (its own fast path, without a call)
        self.sound = (ok and answer.finish_reason != "length"
                      and (bool(answer.tool_calls) or text.said))
        self.doc = text.doc if ok else NOT_JSON
        self.refused = ok and (answer.refusal or answer.finish_reason == "content_filter"
                               or text.refusal_wording)  # `refused(answer)`
        self.brace = text.brace
        self.normalized = text.normalized


@dataclass(slots=True)
class _Unscored:
    """A comparison waiting for the similarity of its two (different) normalized texts."""

    classes: set[str]
    ratio: float | None
    primary_json: bool
    scopes: frozenset[str]
    failures: tuple[frozenset[str], frozenset[str]]
    texts: tuple[str, str]

    def scored(self, sim: float, thresholds: Thresholds,
               similarity: TextSimilarity) -> Comparison:
        below = thresholds.dissimilar_below
        if sim < (similarity.dissimilar_below if below is None else below):
            self.classes.add(TEXT_DISSIMILAR)
        return _comparison(frozenset(self.classes), False, False, sim, self.ratio,
                           self.primary_json, self.scopes, *self.failures)


def compare(primary: Answer, mirrored: Answer,
            thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
            similarity: TextSimilarity = TOKEN_SET) -> Comparison:
    """Every difference class between a primary answer and a mirrored one, with the measures
    behind them and how each side failed. Pure (given a pure `similarity`)."""
    found = _compare(primary, mirrored, _Side(primary, _Text(primary.text)),
                     _Side(mirrored, _Text(mirrored.text)), thresholds)
    if isinstance(found, _Unscored):
        return found.scored(similarity(*found.texts), thresholds, similarity)
    return found


def compare_many(pairs: Sequence[Pair], thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                 similarity: TextSimilarity = TOKEN_SET) -> list[Comparison]:
    """`[compare(p.primary, p.mirrored, thresholds, similarity=similarity) for p in pairs]`,
    the same comparisons for a report's many pairs at less cost: an answer shared by several
    pairs (a primary with its twin) is looked at once, `similarity.prepare` sees the texts
    `texts_to_score` lists, and the texts that need a score are scored in one batch.

    >>> a = Answer(text="Your order ships Monday.")
    >>> pairs = [Pair("s", "r1", None, 0.0, "candidate", "v3", a, Answer(text="It ships Monday."))]
    >>> compare_many(pairs) == [compare(a, pairs[0].mirrored)]
    True
    """
    sides: dict[int, _Side] = {}  # id(primary) → its side; `pairs` keeps the answers alive
    texts: dict[str | None, _Text] = {}
    sided: list[tuple[Pair, _Side, _Side]] = []
    for pair in pairs:
        primary = sides.get(id(pair.primary))
        if primary is None:
            primary = sides[id(pair.primary)] = _Side(pair.primary, _text(texts, pair.primary))
        sided.append((pair, primary, _Side(pair.mirrored, _text(texts, pair.mirrored))))
    similarity.prepare(text for pair, ps, ms in sided
                       for text in _listed(pair.primary, pair.mirrored, ps, ms))
    found = [_compare(pair.primary, pair.mirrored, ps, ms, thresholds)
             for pair, ps, ms in sided]
    waiting = [i for i, f in enumerate(found) if isinstance(f, _Unscored)]
    scores = similarity.score_many([cast(_Unscored, found[i]).texts for i in waiting])
    for i, score in zip(waiting, scores, strict=True):
        found[i] = cast(_Unscored, found[i]).scored(score, thresholds, similarity)
    return cast(list[Comparison], found)


def _text(texts: dict[str | None, _Text], answer: Answer) -> _Text:
    found = texts.get(answer.text)
    if found is None:
        found = texts[answer.text] = _Text(answer.text)
    return found


def _listed(primary: Answer, mirrored: Answer, ps: _Side, ms: _Side) -> tuple[str, ...]:
    """`similarity_inputs` from the sides."""
    a, b = primary.text, mirrored.text
    if (a is None or b is None or a == b or not ps.ok or not ms.ok or primary.tool_calls
            or mirrored.tool_calls or ps.doc is not NOT_JSON):
        return ()
    na, nb = ps.normalized(), ms.normalized()
    return () if na == nb else (na, nb)


def _compare(primary: Answer, mirrored: Answer, ps: _Side, ms: _Side,
             thresholds: Thresholds) -> Comparison | _Unscored:
    """`compare` but the similarity, from each answer's `_Side`."""
    p_ok, m_ok = ps.ok, ms.ok
    p_doc, m_doc = ps.doc, ms.doc
    primary_json = p_doc is not NOT_JSON
    # The mirrored side owes JSON when the primary answered JSON; the primary when the mirrored
    # did and the primary tried (a brace in its text): a broken primary counts too.
    tried = not primary_json and ps.brace
    p_fail = _NO_FAILURE if ps.sound and not tried else failure_kinds(
        primary, expects_json=m_doc if tried else NOT_JSON, document=p_doc)
    m_fail = _NO_FAILURE if ms.sound and not primary_json else failure_kinds(
        mirrored, expects_json=p_doc, document=m_doc)
    p_ref, m_ref = ps.refused, ms.refused
    classes = {f"failure:{kind}" for kind in m_fail - p_fail} if m_fail else set()
    scopes = primary_scopes(primary, is_json=primary_json, is_refusal=p_ref,
                            empty="empty" in p_fail)
    failures = (p_fail | _REFUSAL if p_ref else p_fail, m_fail | _REFUSAL if m_ref else m_fail)
    if "empty" in p_fail or "empty" in m_fail or not (p_ok and m_ok):
        return Comparison(frozenset(classes), primary_json=primary_json, scopes=scopes,
                          primary_failures=failures[0], mirrored_failures=failures[1])
    if p_ref != m_ref:
        classes.add(REFUSAL_ADDED if m_ref else REFUSAL_DROPPED)
    if primary.tool_calls or mirrored.tool_calls:
        classes |= tool_call_differences(primary.tool_calls, mirrored.tool_calls,
                                         limit=thresholds.max_field_classes)
    # The same text is the same document (unless a NaN, which never equals itself, is in it)
    if primary_json and m_doc is not NOT_JSON and (primary.text != mirrored.text
                                                   or "NaN" in (primary.text or "")):
        classes.update(JSON_FIELD + path for path in json_field_differences(
            p_doc, m_doc, depth=thresholds.json_depth, limit=thresholds.max_field_classes))
    plain = not (primary_json or p_ref or m_ref or primary.tool_calls or mirrored.tool_calls)
    exact = normal = sim = ratio = None
    if plain:
        ratio = _verbosity(primary, mirrored, thresholds, classes)
        a, b = primary.text, mirrored.text
        if a is not None and b is not None:
            if a == b:
                exact, normal, sim = True, True, 1.0
            elif ps.normalized() == ms.normalized():
                classes.add(TEXT_FORMATTING)
                exact, normal, sim = False, True, 1.0
            else:
                classes.add(TEXT_DIFFERENT)
                return _Unscored(classes, ratio, primary_json, scopes, failures,
                                 (ps.normalized(), ms.normalized()))
    return _comparison(frozenset(classes), exact, normal, sim, ratio, primary_json, scopes,
                       *failures)


def _comparison(classes: frozenset[str], exact: bool | None, normal: bool | None,
                sim: float | None, ratio: float | None, primary_json: bool,
                scopes: frozenset[str], primary_failures: frozenset[str],
                mirrored_failures: frozenset[str]) -> Comparison:
    """`Comparison(...)` with every field given, through its slots' setters: a frozen
    dataclass's __init__ sets each field through object.__setattr__, and a report builds one
    per pair (the same objects: tested equal, field by field, to the constructor's)."""
    found = _new(Comparison)
    _set_classes(found, classes)
    _set_exact_equal(found, exact)
    _set_normalized_equal(found, normal)
    _set_similarity(found, sim)
    _set_length_ratio(found, ratio)
    _set_primary_json(found, primary_json)
    _set_scopes(found, scopes)
    _set_primary_failures(found, primary_failures)
    _set_mirrored_failures(found, mirrored_failures)
    return found


_new = object.__new__
(_set_classes, _set_exact_equal, _set_normalized_equal, _set_similarity, _set_length_ratio,
 _set_primary_json, _set_scopes, _set_primary_failures, _set_mirrored_failures) = (
    slot_setters(Comparison))


def _verbosity(primary: Answer, mirrored: Answer, thresholds: Thresholds,
               classes: set[str]) -> float | None:
    use_text = primary.text is not None and mirrored.text is not None
    p_len, m_len = _length(primary, use_text), _length(mirrored, use_text)
    if p_len <= 0 or m_len <= 0:
        return None  # an empty side is a failure class, not a verbosity ratio
    ratio = m_len / p_len
    longer, shorter = _verbosity_classes(thresholds.longer, thresholds.shorter)
    for threshold, name in longer:
        if ratio >= threshold:
            classes.add(name)
    for threshold, name in shorter:
        if ratio <= threshold:
            classes.add(name)
    return ratio


_Named = tuple[tuple[float, str], ...]


@functools.lru_cache(maxsize=64)  # a handful of thresholds, asked for on every pair
def _verbosity_classes(longer: tuple[float, ...], shorter: tuple[float, ...]
                       ) -> tuple[_Named, _Named]:
    """Each threshold with its class name (`verbosity:longer_1.5x`)."""
    return (tuple((t, f"verbosity:longer_{_ratio_name(t)}x") for t in longer),
            tuple((t, f"verbosity:shorter_{_ratio_name(t)}x") for t in shorter))


def _ratio_name(ratio: float) -> str:
    return f"{ratio:.2f}".rstrip("0").rstrip(".")


def difference_classes(pair: Pair, thresholds: Thresholds = DEFAULT_THRESHOLDS
                       ) -> frozenset[str]:
    """The named differences of one pair (primary vs mirrored)."""
    return compare(pair.primary, pair.mirrored, thresholds).classes


__all__ = [
    "DEFAULT_THRESHOLDS",
    "FAILURE_KINDS",
    "NOT_JSON",
    "TOKEN_SET",
    "Comparison",
    "TextSimilarity",
    "Thresholds",
    "TokenSetSimilarity",
    "class_scope",
    "compare",
    "compare_many",
    "difference_classes",
    "failure_kinds",
    "is_empty",
    "json_document",
    "json_field_differences",
    "normalized_equal",
    "primary_scopes",
    "refused",
    "schema_violated",
    "similarity",
    "similarity_inputs",
    "texts_to_score",
    "tool_call_differences",
]
