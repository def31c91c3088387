"""Alembic environment: runs on the connection `rampway.store._migrate` hands over.

There is no alembic.ini: `Store.open()` builds the Alembic config in code and passes an open
connection (already inside the migration transaction) in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from rampway.events.partitions import include_name
from rampway.store.schema import load_all_tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=load_all_tables(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # the event tables' partitions are not declared tables
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError(
        "run rampway migrations through rampway.store (Store.open or rampway.store.upgrade)"
    )
_run(_connection)
