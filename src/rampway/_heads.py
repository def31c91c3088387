"""The migration heads shipped with this code, read without Alembic or SQLAlchemy.

Opening a store that is already at head is the common case (every CLI command, every gateway
start): `rampway.store._migrate.upgrade` compares these heads with the database's
`alembic_version` before it imports Alembic, and the light `flags set` path
(`rampway.flags._sqlite_put`) makes the same comparison before it writes without SQLAlchemy.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "store" / "migrations"


@functools.cache
def declared_heads() -> tuple[str, ...] | None:
    """The heads of the shipped revision files, read without Alembic; None when a file is not
    of the plain form (`revision = "…"`, `down_revision = "…" | (…) | None`, no
    `depends_on`), so that Alembic decides. Example: `("gate_0001",)`."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        if path.name == "__init__.py":
            continue
        found = _literals(path, ("revision", "down_revision", "depends_on"))
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or found.get("depends_on") is not None:
            return None
        if isinstance(down, str):
            down = (down,)
        if down is not None and not (isinstance(down, tuple | list)
                                     and all(isinstance(d, str) for d in down)):
            return None
        revisions.add(revision)
        parents.update(down or ())
    return tuple(sorted(revisions - parents)) or None


def _literals(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Module-level `name = <literal>` assignments of a Python file (annotated or not); a value
    that is not a literal reads as `ValueError`, which no check accepts."""
    out: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            try:
                out[target.id] = ast.literal_eval(value)
            except ValueError:
                out[target.id] = ValueError
    return out


__all__ = ["MIGRATIONS_DIR", "declared_heads"]
