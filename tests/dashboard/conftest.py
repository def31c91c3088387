"""Make the shared helpers importable (tests/dashboard is not a package), with the timeline's,
the rollout's and the gateway's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
for area in ("timeline", "rollout", "experiments", "gateway"):
    sys.path.insert(0, str(Path(__file__).parents[1] / area))
