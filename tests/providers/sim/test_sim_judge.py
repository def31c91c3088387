"""The sim as an LLM judge: it reads rampway's judge prompt, grades against the reference and
answers `SCORE: n`, more reliably for bigger models."""

from __future__ import annotations

from rampway.evals.scorers import CaseView, JudgeScorer, Output
from rampway.providers.sim import load_sim_config
from rampway.providers.sim._engine import Choice, plan_answer
from rampway.providers.sim._tasks.judge import JudgeAsk, parse_ask, true_grade
from rampway.providers.sim._tasks.knowledge import knowledge_base
from rampway.providers.types import ChatRequest, Message

CFG = load_sim_config()
RUBRIC = "Is the answer correct and consistent with the reference?"


def judge_prompt(answer: str, reference: str | None, question: str, *, scale: int = 5,
                 rubric: str = RUBRIC) -> str:
    scorer = JudgeScorer(type="judge", rubric=rubric, model="sim-large", scale=scale)
    expect = {} if reference is None else {"j": reference}
    return scorer.prompt("j", Output(answer), CaseView("c", expect=expect, input=question))


def grade(prompt: str, model: str = "sim-large", entropy: int = 0, **kw: object) -> Choice:
    """The request the eval runner sends to a judge: temperature 0, seed 0, 32 tokens."""
    kw = {"temperature": 0.0, "seed": 0, "max_tokens": 32, **kw}
    req = ChatRequest(model=model, messages=[Message("user", prompt)], **kw)  # type: ignore[arg-type]
    return plan_answer(req, CFG.models[model], entropy=entropy).choices[0]


def ask_of(answer: str, reference: str | None, question: str = "q?", **kw: object) -> JudgeAsk:
    parsed = parse_ask(judge_prompt(answer, reference, question, **kw))  # type: ignore[arg-type]
    assert parsed is not None
    return parsed


def kb_cases() -> list[tuple[str, str, str, bool]]:
    """(question, reference, candidate answer, candidate is right) from the knowledge base."""
    out: list[tuple[str, str, str, bool]] = []
    for e in knowledge_base().faq:
        q = f"A customer asks about {' and '.join(e.keywords[:2])}."
        out.append((q, e.answer, e.answer, True))
        out.append((q, e.answer, e.answer.replace(e.key_fact, e.wrong_fact), False))
    for f in knowledge_base().facts:
        q = f"Question on {' '.join(f.keywords)}?"
        out.append((q, f.answer, f"The answer is {f.answer}.", True))
        out.append((q, f.answer, f"I believe it is {f.wrong}.", False))
    return out


def test_the_scorers_prompt_is_parsed_into_its_sections() -> None:
    answer = "Line one.\n\nQuestion: quoted inside the answer\nSCORE looks odd here"
    parsed = parse_ask(judge_prompt(answer, "Paris", "What is the capital\nof France?", scale=10))
    assert parsed == JudgeAsk(RUBRIC, "Paris", "What is the capital\nof France?", answer, 10)
    no_ref = parse_ask(judge_prompt("Hi!", None, "hello"))
    assert no_ref is not None and no_ref.reference is None and no_ref.scale == 5


def test_prompts_that_are_not_grading_asks_are_not_parsed() -> None:
    assert parse_ask("What is a good SCORE: <n> in bowling?") is None
    assert parse_ask("Rubric: be nice\nSo what should I say?") is None
    assert parse_ask("Answer: 42\nReply with SCORE: <n>") is None  # nothing to grade against


def test_true_grade_follows_the_reference_facts() -> None:
    assert true_grade(ask_of("The capital of France is Paris.", "Paris")) == 5
    assert true_grade(ask_of("It is Lyon.", "Paris")) == 1
    ref = "You can return unused items within 30 days of delivery for a full refund."
    assert true_grade(ask_of("You have 30 days from delivery to return it.", ref)) >= 4
    assert true_grade(ask_of("You have 14 days from delivery to return it.", ref)) <= 2
    assert true_grade(ask_of("Gift cards expire after a year.", "Gift cards never expire.")) <= 3
    assert true_grade(ask_of("", "Paris")) == 1
    assert true_grade(ask_of("Paris", "Paris", scale=10)) == 10


def test_refusing_is_right_only_for_harmful_questions() -> None:
    refusal = "I'm sorry, but I can't help with that."
    assert true_grade(ask_of(refusal, None, "How do I build a bomb at home?")) == 5
    assert true_grade(ask_of("Mix these chemicals ...", None, "How do I build a bomb?")) == 1
    assert true_grade(ask_of(refusal, "30 days", "How long do I have to return?")) == 1


def test_without_reference_the_answer_must_stay_on_topic() -> None:
    question = "How long do I have to return a kettle?"
    assert true_grade(ask_of("You can return the kettle within 30 days.", None, question)) >= 4
    assert true_grade(ask_of("Our shop sells garden furniture.", None, question)) == 1


def test_rubric_quoted_phrases_and_brevity_count() -> None:
    rubric = 'Does the answer mention "prepaid label"? Be concise.'
    short = ask_of("We send a prepaid label.", None, "How to return?", rubric=rubric)
    assert true_grade(short) == 5
    assert true_grade(ask_of("We send a label.", None, "How to return?", rubric=rubric)) <= 3
    rambling = ask_of("We send a prepaid label. " + "More words here. " * 90, None,
                      "How to return?", rubric=rubric)
    assert true_grade(rambling) <= 2


def test_judge_replies_in_the_score_format_and_grades_right_and_wrong_answers() -> None:
    scorer = JudgeScorer(type="judge", rubric=RUBRIC, model="sim-large")
    right = grade(judge_prompt("The capital of France is Paris.", "Paris", "Capital of France?"))
    wrong = grade(judge_prompt("The capital of France is Lyon.", "Paris", "Capital of France?"))
    assert right.family == wrong.family == "judge"
    assert right.content == "SCORE: 5" and scorer.parse(right.content).passed
    assert wrong.content is not None and not scorer.parse(wrong.content).passed


def test_judge_grades_a_refusal_instead_of_refusing() -> None:
    prompt = judge_prompt("I'm sorry, but I can't help with that.", None,
                          "How do I build a bomb at home?")
    choice = grade(prompt)
    assert choice.refusal is None and choice.content == "SCORE: 5"


def _agreement(model: str) -> tuple[float, float, int]:
    """(share of exact true grades, share of right pass/fail calls, answers without a grade)."""
    scorer = JudgeScorer(type="judge", rubric=RUBRIC, model=model)
    cases = kb_cases()
    exact = verdicts = missing = 0
    for question, reference, answer, _ in cases:
        prompt = judge_prompt(answer, reference, question)
        parsed = parse_ask(prompt)
        assert parsed is not None
        truth = true_grade(parsed)
        content = grade(prompt, model).content or ""
        score = scorer.parse(content)
        missing += "no grade" in score.detail
        exact += content.startswith(f"SCORE: {truth}")
        verdicts += score.passed == ((truth - 1) / 4 >= scorer.threshold)
    return exact / len(cases), verdicts / len(cases), missing


def test_bigger_models_grade_more_reliably() -> None:
    large, large_verdicts, large_missing = _agreement("sim-large")
    small, small_verdicts, small_missing = _agreement("sim-small")
    assert large >= 0.85 and large_verdicts >= 0.9
    assert large - small >= 0.08 and large_verdicts > small_verdicts
    assert large_missing <= small_missing  # sloppier format adherence, more unparseable replies


def test_right_answers_score_high_and_wrong_ones_low_on_average() -> None:
    scorer = JudgeScorer(type="judge", rubric=RUBRIC, model="sim-large")
    right: list[float] = []
    wrong: list[float] = []
    for question, reference, answer, ok in kb_cases():
        content = grade(judge_prompt(answer, reference, question)).content or ""
        (right if ok else wrong).append(scorer.parse(content).value)
    assert sum(right) / len(right) >= 0.9
    assert sum(wrong) / len(wrong) <= 0.35


def test_a_chatty_model_may_add_a_reason_after_the_score_line() -> None:
    contents = [grade(judge_prompt(a, r, q), "sim-large-2").content or ""
                for q, r, a, _ in kb_cases()]
    with_reason = [c for c in contents if c.startswith("SCORE: ") and "\n" in c]
    assert with_reason and len(with_reason) < len(contents) // 2
    assert all(len(c.split("\n")) == 2 for c in with_reason)


def test_grading_is_deterministic_at_temperature_zero() -> None:
    prompt = judge_prompt("Standard shipping takes 7-10 business days.",
                          "Standard shipping takes 3-5 business days.", "How long is shipping?")
    first = grade(prompt, "sim-small", seed=None)
    assert first.content is not None and first.content.startswith("SCORE: ")
    assert all(grade(prompt, "sim-small", e, seed=None).content == first.content
               for e in range(1, 6))
