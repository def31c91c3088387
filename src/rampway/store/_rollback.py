"""Where does a rollback go? Pure logic over a channel's history.

The history is read as a stack of *distinct* releases, like a browser's back button:

- a `set` move pushes its target (unless the channel already points there);
- a `rollback` move pops the current release.

Rolling back goes to the release under the top of the stack. So after A → B → C, one rollback
goes to B and a second one to A (not back to C, which a naive "previous pointer" would do).
After A → B, rollback (→ A), set C: the stack is [A, C], so the next rollback returns to A.

    >>> rollback_target([("set", "A"), ("set", "B"), ("set", "C"), ("rollback", "B")])
    'A'
"""

from __future__ import annotations

from collections.abc import Iterable


def release_stack(moves: Iterable[tuple[str, str]]) -> list[str]:
    """Replay `(kind, to_release)` moves, oldest first, into the stack described above."""
    stack: list[str] = []
    for kind, target in moves:
        if kind == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != target:  # history written by hand/older code: resync
                stack.append(target)
        elif not stack or stack[-1] != target:
            stack.append(target)
    return stack


def rollback_target(moves: Iterable[tuple[str, str]]) -> str | None:
    """The release a rollback should move to, or None when there is nothing earlier."""
    stack = release_stack(moves)
    return stack[-2] if len(stack) >= 2 else None
