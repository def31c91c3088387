"""Shadow traffic: real requests mirrored to a candidate release, never served, and compared.

    shadows/<name>.yaml ─▶ spec.Definition ─▶ repo.start (audited, control version bumped)
    gateway/SDK pipeline ─▶ capture.ShadowCapture (a hook) ─▶ shadow_pairs (pairs.PairWriter)
    pairs.load_pairs(store, name) ─▶ Pair(primary = the request's event row, mirrored = the pair)
"""

from rampway.shadow.active import ActiveShadow, ActiveShadows
from rampway.shadow.model import Answer, Pair, PairKind, ToolUse
from rampway.shadow.pairs import load_pairs
from rampway.shadow.record import ShadowRecord
from rampway.shadow.spec import Definition, load_definition, parse_definition

__all__ = [
    "ActiveShadow",
    "ActiveShadows",
    "Answer",
    "Definition",
    "Pair",
    "PairKind",
    "ShadowRecord",
    "ToolUse",
    "load_definition",
    "load_pairs",
    "parse_definition",
]
