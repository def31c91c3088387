"""The rollback rule as vectors: history is a stack of distinct releases (see `_rollback`)."""

from __future__ import annotations

import pytest

from rampway.store import rollback_target
from rampway.store._rollback import release_stack

CASES = [
    # (moves oldest first, expected stack, expected rollback target)
    ([], [], None),
    ([("set", "A")], ["A"], None),
    ([("set", "A"), ("set", "B")], ["A", "B"], "A"),
    ([("set", "A"), ("set", "B"), ("set", "C")], ["A", "B", "C"], "B"),
    ([("set", "A"), ("set", "B"), ("set", "C"), ("rollback", "B")], ["A", "B"], "A"),
    ([("set", "A"), ("set", "B"), ("rollback", "A")], ["A"], None),
    ([("set", "A"), ("set", "B"), ("rollback", "A"), ("set", "C")], ["A", "C"], "A"),
    ([("set", "A"), ("set", "A"), ("set", "B"), ("set", "B")], ["A", "B"], "A"),
    ([("set", "A"), ("set", "B"), ("set", "A")], ["A", "B", "A"], "B"),
    # a rollback whose target disagrees with the stack (hand-edited history): trust the row
    ([("set", "A"), ("set", "B"), ("rollback", "X")], ["A", "X"], "A"),
]


@pytest.mark.parametrize(("moves", "stack", "target"), CASES)
def test_rollback_walks_back_through_distinct_releases(
    moves: list[tuple[str, str]], stack: list[str], target: str | None
) -> None:
    assert release_stack(moves) == stack
    assert rollback_target(moves) == target
