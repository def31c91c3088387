"""Flag and segment definitions in the store (revision `flags_0001` creates exactly these).

A row holds one definition as plain JSON — the same shape as an entry of `flags/*.yaml` — so
the API, the CLI and the repo files share one format and one validator. `version` grows by one on
every write (optimistic concurrency: the API's ETag); `source` says who wrote it last: `api`, or
`file` when `rampway flags push` synced it from the repo (see `rampway.flags.store` for the
precedence rule this enables).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from rampway.store.schema import NAME, JSONType, UTCDateTime, metadata

flag_definitions = Table(
    "flag_definitions",
    metadata,
    Column("key", String(NAME), primary_key=True),
    Column("definition", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", String(16), nullable=False),
    Column("file", Text, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(NAME), nullable=False),
)

segment_definitions = Table(
    "segment_definitions",
    metadata,
    Column("key", String(NAME), primary_key=True),
    Column("definition", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", String(16), nullable=False),
    Column("file", Text, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(NAME), nullable=False),
)

__all__ = ["flag_definitions", "segment_definitions"]
