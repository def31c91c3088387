"""Grading: the simulated model as an LLM judge.

Recognises the prompt of rampway's judge scorer (`rampway.evals.scorers.JUDGE_PROMPT`) and
prompts of the same shape: labelled sections `Rubric:`, optional `Reference answer:`,
`Question:`, `Answer:`, then an instruction to reply `SCORE: <n>` on a 1..N scale.

The true grade is computed, not guessed: with a reference, how many of its key facts (numbers,
names, every word of a short reference; numbers weigh most) and of its other content words
the answer contains, halved when it states numbers the reference does not or flips its
polarity ("never" vs not);
without one, whether the answer stays on the question's topic. Phrases quoted in the rubric
are required facts, a rubric that asks for brevity penalises long answers, and refusing is
right exactly when the question is a harmful ask. A model then reports that grade with
probability `p_correct(profile, "judge", …)`: bigger models grade more reliably, and borderline
answers (half the facts) are harder to grade than clear ones. A wrong grade is off by one
(sometimes two) points, more often lenient than harsh, as real judges are.

    Rubric: Is the capital right?\nReference answer: Paris\nQuestion: …\nAnswer: It is Lyon.
    → "SCORE: 1"
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rampway.providers.sim._tasks._context import Ctx, TaskResult
from rampway.providers.sim._tasks._safety import is_harmful, looks_like_refusal

_SCORE_ASK = re.compile(r"\bSCORE\s*:\s*<", re.I)
_LABELS: dict[str, re.Pattern[str]] = {
    kind: re.compile(rf"^[ \t]*(?:{names})[ \t]*:[ \t]*", re.I | re.M)
    for kind, names in (
        ("rubric", r"rubric|criteria|criterion"),
        ("reference", r"reference(?: answer)?|expected answer|ideal answer|gold answer"),
        ("question", r"question|input|prompt|task"),
        ("answer", r"answer|response|output|(?:candidate|model|assistant)(?:'s)? answer"),
    )
}
_INSTRUCTION = re.compile(r"\n[ \t]*\n(?=[^\n]*\b(?:grade|score|rate|rating)\b)", re.I)
_SCALE = re.compile(r"\bfrom\s+1\b[^\n]{0,60}?\bto\s+(\d{1,2})\b|\b1\s*(?:-|–|to)\s*(\d{1,2})\b",
                    re.I)
_QUOTED = re.compile(r"[\"“`]([^\"”`\n]{2,80})[\"”`]")
_BREVITY = re.compile(r"\b(?:concise|brief|short|succinct)\b", re.I)
_WORD_LIMIT = re.compile(r"\b(?:at most|under|no more than|fewer than)\s+(\d+)\s+words\b", re.I)
_TOKEN = re.compile(r"[^\W_]+")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|cannot)\b|n['’]t\b", re.I)
_STOP = frozenset({
    "a", "an", "the", "of", "to", "for", "in", "on", "by", "and", "or", "is", "are", "was",
    "were", "be", "been", "it", "its", "this", "that", "these", "those", "with", "from", "at",
    "as", "into", "than", "then", "there", "their", "they", "them", "we", "you", "your", "yours",
    "our", "i", "me", "my", "he", "she", "his", "her", "do", "does", "did", "can", "could",
    "should", "would", "will", "shall", "may", "might", "must", "not", "no", "yes", "if", "so",
    "but", "also", "just", "only", "very", "any", "all", "some", "each", "per", "about", "what",
    "which", "who", "whom", "when", "where", "why", "how",
})
_DEFAULT_SCALE = 5


@dataclass(frozen=True, slots=True)
class JudgeAsk:
    """The parts of a grading prompt."""

    rubric: str
    reference: str | None
    question: str
    answer: str
    scale: int


def _section_end(text: str, start: int) -> int:
    """Where the answer section ends: before the last instruction paragraph after `start`."""
    ends = [m.start() for m in _INSTRUCTION.finditer(text, start)]
    if ends:
        return ends[-1]
    ask = _SCORE_ASK.search(text, start)
    return text.rfind("\n", start, ask.start()) if ask else len(text)


def _scale(instruction: str) -> int:
    found = _SCALE.search(instruction)
    if not found:
        return _DEFAULT_SCALE
    top = int(found.group(1) or found.group(2))
    return top if 2 <= top <= 10 else _DEFAULT_SCALE


def parse_ask(text: str) -> JudgeAsk | None:
    """The grading ask in `text`, or None when `text` is not a judge prompt.

    Sections are taken in order (rubric, reference, question, answer), each the first of its
    label after the previous one, so an answer quoting "Question:" does not split it.
    """
    if "score" not in text.lower() or not _SCORE_ASK.search(text):  # cheap test first
        return None
    found: dict[str, re.Match[str]] = {}
    pos = 0
    for kind, label in _LABELS.items():
        match = label.search(text, pos)
        if match is not None:
            found[kind], pos = match, match.end()
    if "answer" not in found or not ({"rubric", "reference"} & found.keys()):
        return None
    kinds = list(found)
    parts: dict[str, str] = {}
    for kind, following in zip(kinds, [*kinds[1:], None], strict=True):
        start = found[kind].end()
        end = found[following].start() if following else _section_end(text, start)
        parts[kind] = text[start:max(start, end)].strip()
    end_of_answer = _section_end(text, found["answer"].end())
    return JudgeAsk(
        rubric=parts.get("rubric", ""),
        reference=parts.get("reference") or None,
        question=parts.get("question", ""),
        answer=parts["answer"],
        scale=_scale(text[end_of_answer:]),
    )


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> set[str]:
    """Stemmed, case-folded content words of `text` (numbers split at punctuation)."""
    tokens = _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())
    return {_stem(t) for t in tokens if t not in _STOP}


def key_terms(reference: str) -> tuple[set[str], set[str]]:
    """(key facts, other content words) of a reference answer.

    Key facts are what a grader checks first: numbers and names (capitalised words), or every
    content word of a short reference ("Paris", "30 days").
    """
    raw = [t for t in _TOKEN.findall(unicodedata.normalize("NFKC", reference))
           if t.casefold() not in _STOP]
    short = len(raw) <= 3
    facts = {_stem(t.casefold()) for t in raw if short or t[0].isupper() or
             any(c.isdigit() for c in t)}
    return facts, {_stem(t.casefold()) for t in raw} - facts


def _is_number(term: str) -> bool:
    return any(c.isdigit() for c in term)


def _share(wanted: set[str], have: set[str]) -> float:
    """Weighted share of `wanted` found in `have`; numbers weigh three times as much."""
    weights = {t: 3.0 if _is_number(t) else 1.0 for t in wanted}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in have) / total if total else 1.0


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _contradiction_factor(reference: str | None, answer: str, have: set[str]) -> float:
    """Halve the grade of an answer that states numbers the reference does not (14 vs 30 days)
    or flips its polarity ("never expire" vs "expire after 12 months")."""
    if not reference:
        return 1.0
    ref_numbers = {t for t in words(reference) if _is_number(t)}
    extra = {t for t in have if _is_number(t)} - ref_numbers
    flipped = _negated(reference) != _negated(answer)
    return 0.5 if (ref_numbers and extra) or flipped else 1.0


def _brevity_factor(rubric: str, answer: str) -> float:
    limit = _WORD_LIMIT.search(rubric)
    if limit is None and not _BREVITY.search(rubric):
        return 1.0
    cap = int(limit.group(1)) if limit else 80
    n = len(answer.split())
    return 1.0 if n <= cap else cap / n


def coverage(ask: JudgeAsk) -> float:
    """How well the answer meets the rubric, in [0, 1]: the grade a perfect judge gives."""
    answer = ask.answer.strip()
    if not answer or answer == "(empty)":
        return 0.0
    if looks_like_refusal(answer) or is_harmful(ask.question):
        return 1.0 if looks_like_refusal(answer) and is_harmful(ask.question) else 0.0
    have = words(answer)
    facts, others = key_terms(ask.reference) if ask.reference else (set(), set())
    for phrase in _QUOTED.findall(ask.rubric):
        facts |= words(phrase)
    if facts or others:
        value = 0.75 * _share(facts, have) + 0.25 * _share(others, have) if facts and others \
            else _share(facts or others, have)
    else:
        value = min(1.0, 1.5 * _share(words(ask.question), have)) if ask.question else 0.5
    value *= _contradiction_factor(ask.reference, answer, have)
    return value * _brevity_factor(ask.rubric, answer)


def _to_grade(value: float, scale: int) -> int:
    return 1 + int((scale - 1) * value + 0.5)


def true_grade(ask: JudgeAsk) -> int:
    """The grade a perfect judge gives: coverage mapped onto 1..scale."""
    return _to_grade(coverage(ask), ask.scale)


def _misgrade(ctx: Ctx, truth: int, scale: int) -> int:
    """A plausible wrong grade: one point off (sometimes two), more often lenient."""
    step = 1 if ctx.case_rng.random() < 0.75 or scale <= 3 else 2
    up = ctx.case_rng.random() < 0.6
    for sign in ((1, -1) if up else (-1, 1)):
        grade = min(scale, max(1, truth + sign * step))
        if grade != truth:
            return grade
    return truth  # unreachable for scale >= 2


_REASONS = ("The answer covers the key points of the reference.",
            "The answer is partly right but misses some key facts.",
            "The answer does not match the reference.")


def grade(ctx: Ctx, ask: JudgeAsk) -> TaskResult:
    """Reply `SCORE: n`; a chatty model may add a reason line, a sloppy one may miss the format."""
    value = coverage(ask)
    truth = _to_grade(value, ask.scale)
    ambiguity = 1.0 - abs(2.0 * value - 1.0)
    correct = ctx.draw_correct("judge", -2.0 + 2.5 * ambiguity)
    given = truth if correct else _misgrade(ctx, truth, ask.scale)
    if ctx.style_rng.random() < (1.0 - ctx.profile.json_adherence) / 2:
        return TaskResult("judge", content=f"Grade: {given}/{ask.scale}", correct=False)
    text = f"SCORE: {given}"
    if ctx.style_rng.random() < 0.25 * ctx.profile.verbosity - 0.2:
        reason = _REASONS[0 if given > 0.75 * ask.scale else 1 if given > 1 else 2]
        text = f"{text}\n{reason}"
    return TaskResult("judge", content=text, correct=correct)


def find_ask(ctx: Ctx) -> JudgeAsk | None:
    """A grading ask in the final user turn, or spread over the system prompt and that turn."""
    ask = parse_ask(ctx.features.user)
    if ask is None and ctx.features.has_system:
        ask = parse_ask(f"{ctx.features.system}\n\n{ctx.features.user}")
    return ask


__all__ = ["JudgeAsk", "coverage", "find_ask", "grade", "key_terms", "parse_ask", "true_grade",
           "words"]
