"""The public surface is what we meant (STYLE.md #12). (That the serving path imports no
statistics stack is checked with `rampway.gateway.control`, which loads running shadows, in
tests/rollout and tests/experiments.)"""

from __future__ import annotations

import rampway.shadow


def test_exports_are_what_we_mean() -> None:
    assert sorted(rampway.shadow.__all__) == sorted([
        "ActiveShadow", "ActiveShadows", "Answer", "Definition", "Pair", "PairKind",
        "ShadowRecord", "ToolUse", "load_definition", "load_pairs", "parse_definition",
    ])
    for name in rampway.shadow.__all__:
        assert getattr(rampway.shadow, name) is not None
