"""Arithmetic: explicit expressions ("What is 17 * 23?") and simple word problems.

Word problems are read clause by clause: the first number is the starting amount; later
numbers are added, subtracted, multiplied or divided according to cue words in their clause
("buys … more", "gives away", "each"/"per", "equally among"). A wrong answer is a plausible
slip: off by one, a swapped operation, a transposed digit or a 10% error.

    solve_text("Tom has 12 apples. He buys 5 more and gives away 3. How many are left?")
    # Problem(value=14, steps=['12 + 5 = 17', '17 - 3 = 14'])
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult

_NUM = re.compile(r"(?<![\w.])\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w-])")
_WORD_NUMS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "dozen": 12, "hundred": 100,
}
_WORD_NUM = re.compile(r"\b(" + "|".join(_WORD_NUMS) + r")\b", re.I)
_SPLIT = re.compile(r"(?<=[.!?;])\s+|,\s*|\s+and\s+|\s+then\s+", re.I)
_DIV = re.compile(r"equally|divid|split|\bshares?\b|\bshared\b|\bamong\b|\bper person\b", re.I)
_MUL = re.compile(r"\beach\b|\bper\b|\bevery\b|\btimes\b|multipl|\b(?:packs?|boxes|bags|rows"
                  r"|groups|sets|crates|cartons) of\b", re.I)
_SUB = re.compile(r"gives? away|\bgave\b|\bsells?\b|\bsold\b|\bloses?\b|\blost\b|\beats?\b"
                  r"|\bate\b|\bspends?\b|\bspent\b|\buses?\b|\bused\b|\bbroke\b|\bbreaks?\b"
                  r"|\bremoves?\b|\bremoved\b|\bdonates?\b|\bdonated\b|\bpays?\b|\bpaid\b"
                  r"|\bfewer\b|\bless\b|\bminus\b|\bsubtract|\bdrops?\b|\bdropped\b", re.I)
_RATE = re.compile(r"\beach\b|\bper\b|\bevery\b|\bholds?\b|\bcontains?\b|\bcosts?\b|\bfits?\b",
                   re.I)
_CUE = re.compile(r"how (many|much)|what is|what's|calculate|compute|solve|total|left|remain"
                  r"|sum|product|=\s*\?|evaluate", re.I)
_EXPR = re.compile(r"[\d(][\d\s.+\-*/×÷x()^]*[\d)]")
_WORD_OPS = (
    (re.compile(r"\bmultiplied by\b|\btimes\b", re.I), "*"),
    (re.compile(r"\bdivided by\b|\bover\b", re.I), "/"),
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
)
_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_SYMBOL = {"+": "+", "-": "-", "*": "×", "/": "÷"}


@dataclass(slots=True)
class Problem:
    value: float
    steps: list[str] = field(default_factory=list)
    n_ops: int = 1
    last_op: str = "+"
    operands: tuple[float, float] = (0.0, 0.0)


def fmt(x: float) -> str:
    """12.0 → '12', 2.5 → '2.5', 1/3 → '0.33'."""
    if abs(x - round(x)) < 1e-9:
        return str(round(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _eval(node: ast.AST) -> tuple[float, int]:
    """Value and operation count of a parsed arithmetic expression; anything else is refused."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value), 0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value, ops = _eval(node.operand)
        return -value, ops
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, lops = _eval(node.left)
        right, rops = _eval(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("division by zero")
        return _OPS[type(node.op)](left, right), lops + rops + 1
    raise ValueError("not arithmetic")


def _explicit(text: str) -> Problem | None:
    for pattern, symbol in _WORD_OPS:
        text = pattern.sub(f" {symbol} ", text)
    best: Problem | None = None
    for match in _EXPR.finditer(text):
        expr = match.group(0).replace("×", "*").replace("÷", "/").replace("x", "*")
        expr = expr.replace("^", "**") if "**" not in expr else expr
        if not re.search(r"\d\s*[-+*/]\s*[\d(]", expr) or re.fullmatch(r"\d{4}-\d\d-\d\d", expr):
            continue
        try:
            value, ops = _eval(ast.parse(expr.strip(), mode="eval").body)
        except (SyntaxError, ValueError):
            continue
        if best is None or ops > best.n_ops:
            best = Problem(value, [f"{' '.join(expr.split())} = {fmt(value)}"], ops, "+")
    return best


def _numbers(clause: str) -> list[float]:
    found = [(m.start(), float(m.group(1).replace(",", "") + (m.group(2) or "")))
             for m in _NUM.finditer(clause)]
    found += [(m.start(), float(_WORD_NUMS[m.group(1).lower()]))
              for m in _WORD_NUM.finditer(clause)]
    return [value for _, value in sorted(found)]


def _clause_op(clause: str, rate_context: bool) -> str:
    if _DIV.search(clause):
        return "/"
    if _MUL.search(clause):
        return "*"
    if _SUB.search(clause):
        return "-"
    return "*" if rate_context else "+"


class _Acc:
    """Running total of a word problem, recording each step as text."""

    def __init__(self) -> None:
        self.value: float | None = None
        self.problem = Problem(0.0, [], 0)

    def apply(self, op: str, x: float) -> None:
        if self.value is None:
            self.value = x
            return
        if op == "/" and x == 0:
            raise ValueError("division by zero")
        result = {"+": self.value + x, "-": self.value - x, "*": self.value * x,
                  "/": self.value / x if x else 0.0}[op]
        self.problem.steps.append(f"{fmt(self.value)} {_SYMBOL[op]} {fmt(x)} = {fmt(result)}")
        self.problem.n_ops += 1
        self.problem.last_op = op
        self.problem.operands = (self.value, x)
        self.value = result


def _word_problem(text: str) -> Problem | None:
    acc = _Acc()
    rate_context = False
    for clause in _SPLIT.split(text):
        nums = _numbers(clause)
        if not nums:
            continue
        op = _clause_op(clause, rate_context)
        if acc.value is not None and len(nums) >= 2 and _MUL.search(clause):
            product = nums[0]
            for x in nums[1:]:
                product *= x
            nums = [product]
            op = "-" if _SUB.search(clause) else "+"
        for x in nums:
            acc.apply(op, x)
        rate_context = rate_context or bool(_RATE.search(clause))
    if acc.value is None or acc.problem.n_ops == 0:
        return None
    acc.problem.value = acc.value
    return acc.problem


def parse(text: str) -> Problem | None:
    """The arithmetic problem in `text`, or None when it isn't one."""
    if not _CUE.search(text):
        return None
    return _explicit(text) or _word_problem(text)


def _slip(problem: Problem, ctx: Ctx) -> float:
    """A plausible wrong answer, never equal to the right one."""
    v = problem.value
    rng = ctx.case_rng
    kind = rng.randrange(4)
    if kind == 1 and problem.operands == (0.0, 0.0):
        kind = 3
    if kind == 0:
        wrong = v + rng.choice((-1, 1))
    elif kind == 1:
        a, b = problem.operands
        wrong = {"+": a - b, "-": a + b, "*": a + b, "/": a * b}[problem.last_op]
    elif kind == 2:
        digits = fmt(v)
        wrong = float(digits[::-1].lstrip("-")) if len(digits) > 1 and digits[0] != "-" else v + 10
    else:
        wrong = round(v * rng.choice((0.9, 1.1)), 2)
    return wrong if abs(wrong - v) > 1e-9 else v + 2


def solve(ctx: Ctx, problem: Problem) -> TaskResult:
    """Answer `problem`, right with the model/prompt probability, else with a slip."""
    correct = ctx.draw_correct("arithmetic", 0.3 * max(0, problem.n_ops - 1))
    value = problem.value if correct else _slip(problem, ctx)
    steps = list(problem.steps)
    if not correct and steps:
        steps[-1] = steps[-1].rsplit("=", 1)[0] + f"= {fmt(value)}"
    answer = Answer(
        core=fmt(value),
        sentence=f"The answer is {fmt(value)}.",
        steps=steps,
        extras=["I worked through the quantities in the order they appear in the problem.",
                "Double-checking the arithmetic gives the same result."],
    )
    content = render(answer, ctx.features, ctx.profile, ctx.style_rng)
    return TaskResult("arithmetic", content=content, correct=correct)


__all__ = ["Problem", "fmt", "parse", "solve"]
