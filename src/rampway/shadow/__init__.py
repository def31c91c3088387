"""Shadow traffic: real requests mirrored to a candidate release, never served, and compared.

    report = build_report(pairs, name="v3-vs-prod")   # pairs: Iterable[Pair]
    print(render_text(report))                         # or render_markdown, report.to_json()

`compare` names what differs in one pair (difference classes), `noise_floor` keeps only the
classes the candidate shows more often than the primary's own twin does, and `build_report`
adds exemplars, failure modes and the latency and cost deltas.
"""

from rampway.shadow.compare import (
    Comparison,
    Thresholds,
    class_scope,
    compare,
    difference_classes,
    similarity,
)
from rampway.shadow.model import Answer, Pair, PairKind, ToolUse
from rampway.shadow.noise import ClassRate, Margins, NoiseFloor, noise_floor
from rampway.shadow.report import (
    Delta,
    Exemplar,
    FailureMode,
    FlaggedClass,
    ShadowReport,
    Verdict,
    build_report,
    render_markdown,
    render_text,
)

__all__ = [
    "Answer",
    "ClassRate",
    "Comparison",
    "Delta",
    "Exemplar",
    "FailureMode",
    "FlaggedClass",
    "Margins",
    "NoiseFloor",
    "Pair",
    "PairKind",
    "ShadowReport",
    "Thresholds",
    "ToolUse",
    "Verdict",
    "build_report",
    "class_scope",
    "compare",
    "difference_classes",
    "noise_floor",
    "render_markdown",
    "render_text",
    "similarity",
]
