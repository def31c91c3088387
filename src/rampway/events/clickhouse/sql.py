"""SQLAlchemy Core queries rendered as ClickHouse SQL: the analyses' own queries, unchanged.

The per-unit aggregation of an experiment (`rampway.experiments.extract.units_query`) is plain
SQL — a CTE, CASE, min/max/sum/count, COALESCE and outer joins — which ClickHouse runs as it
is. So rather than a second copy of every metric's definition, the very same `Select` is
compiled with a small dialect that renders values inline as ClickHouse literals (ClickHouse
escapes with backslashes, standard SQL doubles the quote), and run with `join_use_nulls = 1`,
which gives outer joins SQL's NULLs instead of ClickHouse's default values.

    to_clickhouse(units_query("support-bot", arms, since, until, ["thumbs"]))
    # WITH exposure AS (SELECT … WHERE request_events.feature = 'support-bot' …) SELECT …
    #   SETTINGS join_use_nulls = 1
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import default
from sqlalchemy.sql import compiler

from rampway.events.clickhouse.schema import quote

#: Appended to every query: standard NULLs from outer joins (see the module docstring).
SETTINGS = " SETTINGS join_use_nulls = 1"


class _Compiler(compiler.SQLCompiler):
    def render_literal_value(self, value: Any, type_: Any) -> str:
        if isinstance(value, str):
            return quote(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if not math.isfinite(value):
                return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
            return repr(value)  # shortest text that reads back as the same double
        return str(super().render_literal_value(value, type_))


class _TypeCompiler(compiler.GenericTypeCompiler):
    def visit_FLOAT(self, type_: Any, **kw: Any) -> str:
        return "Float64"  # ClickHouse's FLOAT is Float32: a CAST would drop half the digits


class ClickHouseDialect(default.DefaultDialect):
    """Just enough of a dialect to print Core selects as ClickHouse reads them."""

    name = "clickhouse"
    statement_compiler = _Compiler
    type_compiler_cls = _TypeCompiler
    supports_statement_cache = False


_DIALECT = ClickHouseDialect()


def to_clickhouse(query: sa.Select[Any]) -> str:
    """`query` as ClickHouse SQL, its parameters inline."""
    text = str(query.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
    return text + SETTINGS


__all__ = ["SETTINGS", "ClickHouseDialect", "to_clickhouse"]
