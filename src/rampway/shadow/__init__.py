"""Shadow traffic: real requests mirrored to a candidate release, never served, and compared."""

from rampway.shadow.model import Answer, Pair, PairKind, ToolUse

__all__ = ["Answer", "Pair", "PairKind", "ToolUse"]
