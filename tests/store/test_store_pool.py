"""PostgreSQL connection pool sizing from the URL, and connections that name themselves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rampway.errors import ConfigError
from rampway.store import Store

pytestmark = pytest.mark.postgres


def test_pool_is_sized_from_the_url_and_connections_say_rampway(pg_database_url: str) -> None:
    with Store.open(f"{pg_database_url}?pool_size=2&max_overflow=1") as store:
        pool = store.engine.pool
        assert isinstance(pool, sa.QueuePool)
        assert (pool.size(), pool._max_overflow) == (2, 1)
        assert "pool_size" not in store.engine.url.query  # rampway's own, not the driver's
        with store.engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_setting('application_name')")).scalar()
        assert name == "rampway"


def test_defaults_and_an_explicit_application_name(pg_database_url: str) -> None:
    with Store.open(f"{pg_database_url}?application_name=billing-gw") as store:
        pool = store.engine.pool
        assert isinstance(pool, sa.QueuePool)
        assert (pool.size(), pool._max_overflow) == (10, 20)
        with store.engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_setting('application_name')")).scalar()
        assert name == "billing-gw"


@pytest.mark.parametrize("query", ["pool_size=0", "pool_size=-1", "max_overflow=x",
                                   "pool_size=2&pool_size=3"])
def test_a_bad_pool_setting_is_a_config_error_naming_it(pg_database_url: str, query: str) -> None:
    with pytest.raises(ConfigError, match=r"database URL: (pool_size|max_overflow) must be"):
        Store.open(f"{pg_database_url}?{query}")
