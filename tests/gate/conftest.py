"""Fixtures for gate tests (helpers live in gate_helpers.py)."""

from gate_helpers import example_project as example  # noqa: F401
