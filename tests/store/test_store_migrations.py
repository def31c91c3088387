"""Opening a store migrates it; the migrations produce exactly the declared schema."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from rampway.errors import ConfigError, StoreError
from rampway.events.partitions import include_name
from rampway.store import Store, alembic_config, current_revisions, head_revisions
from rampway.store.schema import load_all_tables


def test_open_migrates_an_empty_database_to_head(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert current_revisions(store.engine) == head_revisions()
        tables = set(sa.inspect(store.engine).get_table_names())
        assert set(load_all_tables().tables) <= tables
        assert store.control_version() == 0


def test_migrations_match_the_declared_schema(store: Store) -> None:
    """Fails when a table/column in any `rampway.<area>.tables` has no migration (or vice versa)."""
    metadata = load_all_tables()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, metadata) == []


def test_reopening_keeps_data_and_does_not_remigrate(db_url: str) -> None:
    with Store.open(db_url) as store:
        store.record_audit(
            actor="ana", action="a", object_type="t", object_id="i",
            before=None, after=None, reason="test",
        )
    with Store.open(db_url) as store:
        assert len(store.list_audit()) == 1


def test_migrations_downgrade_to_base_and_upgrade_again(store: Store) -> None:
    with store.transaction() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
    with store.transaction() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert store.control_version() == 0


def test_database_newer_than_this_code_is_a_store_error(db_url: str) -> None:
    with Store.open(db_url) as store, store.transaction() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match="9999_future"):
        Store.open(db_url)


def test_concurrent_opens_migrate_once(db_url: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        barrier.wait()
        try:
            Store.open(db_url).close()
        except BaseException as exc:  # collected and re-asserted below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with Store.open(db_url) as store:
        assert current_revisions(store.engine) == head_revisions()


def test_sqlite_file_is_created_in_an_existing_directory(tmp_path: Path) -> None:
    # A missing directory is refused, except .rampway/ (tests/store/test_store_directory.py).
    path = tmp_path / "rampway.db"
    with Store.open(f"sqlite:///{path}"):
        assert path.is_file()


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="database error"):
        Store.open("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2")


@pytest.mark.parametrize(
    "url", ["not a url", "mysql://root@localhost/db", "postgresql+nosuchdriver://h/db"]
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        Store.open(url)


def test_timestamps_come_back_timezone_aware(store: Store) -> None:
    store.record_audit(
        actor="ana", action="a", object_type="t", object_id="i",
        before=[1, "two"], after={"k": None}, reason="test",
    )
    [entry] = store.list_audit()
    assert entry.at.utcoffset() is not None and entry.at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert (entry.before, entry.after) == ([1, "two"], {"k": None})


def test_declared_heads_read_from_files_agree_with_alembic() -> None:
    # The fast path of Store.open (no Alembic import) must see exactly the heads Alembic sees.
    from rampway.store._migrate import declared_heads

    assert declared_heads() == head_revisions()


def test_fast_path_still_migrates_a_database_behind_head(db_url: str) -> None:
    with Store.open(db_url) as store:
        with store.transaction() as conn:
            command.downgrade(alembic_config(conn), "-1")
        assert current_revisions(store.engine) != head_revisions()
    with Store.open(db_url) as store:
        assert current_revisions(store.engine) == head_revisions()
