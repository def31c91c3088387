"""The one decision rule of the eval gate and the rollout judge, on an interval of "harm"
(standard library only: the gate's policy module stays free of numpy/scipy).

`harm` is oriented so that positive means worse than the margin allows (for the judge, the
candidate's contrast with the margin applied; for the gate, the drop beyond the margin):

    pass          the interval excludes harm beyond the margin   (upper <= 0)
    fail          the interval lies wholly in harm beyond it     (lower > 0)
    inconclusive  otherwise — hold, gather more, or ask a human

A bound exactly on the margin passes. "Not proven worse" is not a pass: a guardrail or a gate
rule passes only when the data shows the candidate within the margin.

>>> harm_verdict(-0.3, -0.01), harm_verdict(0.02, 0.4), harm_verdict(-0.1, 0.2)
('pass', 'fail', 'inconclusive')
"""

from __future__ import annotations

from typing import Literal

HarmVerdict = Literal["pass", "fail", "inconclusive"]


def harm_verdict(lower: float, upper: float) -> HarmVerdict:
    """See the module docstring; `lower <= upper` bound the harm beyond the margin."""
    if upper <= 0:
        return "pass"
    if lower > 0:
        return "fail"
    return "inconclusive"


__all__ = ["HarmVerdict", "harm_verdict"]
