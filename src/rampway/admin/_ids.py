"""Checks on URL segments before they reach the database or the file system.

A path segment is attacker-controlled text: an id beyond the database's integer range is not an
id of anything (404, not PostgreSQL's "integer out of range" as a 500), and a name that becomes
a file name must be a plain name (no separators, no 300-character stems the OS refuses).
"""

from __future__ import annotations

import re

from rampway.config import NAME_PATTERN
from rampway.errors import RefError, RequestError

MAX_ID = 2**31 - 1  # INTEGER primary keys (SQLite accepts more; PostgreSQL does not)


def check_id(value: int, what: str) -> int:
    """`value` if it can be a row id; a 404 naming `what` otherwise."""
    if not 1 <= value <= MAX_ID:
        raise RefError(f"no {what} #{value}")
    return value


def check_feature_name(feature: str) -> str:
    """A feature name that may become a file stem (`rollouts/<feature>.yaml`)."""
    if not re.fullmatch(NAME_PATTERN.strip("^$"), feature):
        raise RequestError(
            f"invalid feature name {feature[:80]!r}: use letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 64 characters)",
            param="feature",
        )
    return feature


__all__ = ["MAX_ID", "check_feature_name", "check_id"]
