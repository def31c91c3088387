"""The public surface of evals and gate is what we meant (STYLE #12)."""

from __future__ import annotations

import ast
from pathlib import Path

import rampway.evals
import rampway.gate

SRC = Path(rampway.gate.__file__).resolve().parents[1]


def test_exported_members() -> None:
    for module in (rampway.evals, rampway.gate):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_decision_core_imports_no_io() -> None:
    """compare/policy/model must stay pure: no store, http, providers or router imports."""
    forbidden = ("rampway.store", "rampway.providers", "rampway.router", "httpx", "sqlalchemy")
    for name in ("compare.py", "policy.py", "model.py"):
        tree = ast.parse((SRC / "gate" / name).read_text())
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ] + [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        assert not [m for m in imported if m.startswith(forbidden)], (name, imported)


def test_opening_the_store_does_not_import_numpy() -> None:
    """The store discovers gate.tables; that must not cost every CLI call numpy + scipy."""
    import subprocess
    import sys

    code = (
        "import sys; from rampway.store import Store; from rampway.store.schema import "
        "load_all_tables; load_all_tables(); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
