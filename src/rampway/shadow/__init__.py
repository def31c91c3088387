"""Shadow traffic: real requests mirrored to a candidate release, never served, and compared.

    shadows/<name>.yaml ─▶ spec.Definition ─▶ repo.start (audited, control version bumped)
    gateway/SDK pipeline ─▶ capture.ShadowCapture (a hook) ─▶ shadow_pairs (pairs.PairWriter)
    pairs.load_pairs(store, name) ─▶ Pair(primary = the request's event row, mirrored = the pair)
    report.build_report(pairs) ─▶ compare (difference classes per pair) ─▶ noise.noise_floor
        (only classes the candidate shows more often than the primary's own twin) ─▶ render_*

The comparison modules (`compare`, `noise`, `report`) pull the statistics stack, so they are
imported from their modules, not re-exported here: the serving path loads this package.
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
