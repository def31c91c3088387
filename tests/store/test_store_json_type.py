"""`JSONType` stores what `JSON().with_variant(JSONB(), "postgresql")` stored, on both backends.

It became a decorator that picks JSONB only on a PostgreSQL connection, so that importing the
schema does not import SQLAlchemy's PostgreSQL dialect (issue #17's CLI start-up). A Python
`None` must still be JSON `null` (not SQL NULL), an absent value SQL NULL, and the PostgreSQL
column type JSONB.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from rampway.store.schema import JSONType, is_json

VARIANT = sa.JSON().with_variant(JSONB(), "postgresql")


def test_json_type_stores_exactly_what_the_jsonb_variant_stored(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    meta = sa.MetaData()
    probe = sa.Table("json_type_probe", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("new", JSONType), sa.Column("old", VARIANT))
    values = [None, {"x": [1, None, "é"]}, [1.5, True], "text", 0]
    try:
        with engine.begin() as conn:
            meta.create_all(conn)
            conn.execute(probe.insert(), [{"id": i, "new": v, "old": v}
                                          for i, v in enumerate(values)])
            conn.execute(probe.insert().values(id=len(values)))  # neither column given
            raw = conn.execute(sa.text(
                "SELECT id, new IS NULL, old IS NULL, CAST(new AS TEXT), CAST(old AS TEXT) "
                "FROM json_type_probe ORDER BY id")).all()
            read = conn.execute(sa.select(probe).order_by(probe.c.id)).all()
            if engine.dialect.name == "postgresql":
                types = conn.execute(sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'json_type_probe' AND column_name IN ('new', 'old')"
                )).all()
                assert {t for _, t in types} == {"jsonb"}
    finally:
        with engine.begin() as conn:
            meta.drop_all(conn)
        engine.dispose()
    for _, new_null, old_null, new_text, old_text in raw:
        assert (new_null, new_text) == (old_null, old_text)
    assert raw[0][3] == "null"  # a Python None is JSON null ...
    assert raw[-1][1]  # ... and a value never given is SQL NULL
    assert [(r.new, r.old) for r in read] == [(v, v) for v in values] + [(None, None)]
    assert is_json(JSONType) and is_json(sa.JSON()) and not is_json(sa.Text())
