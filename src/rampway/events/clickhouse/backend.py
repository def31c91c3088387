"""The one seam to ClickHouse: run a statement, read columns, insert columns.

Two implementations share every statement rampway sends (`schema`, `sql`):

    ServerBackend  a ClickHouse server or cluster over HTTP(S), through `clickhouse-connect`;
                   inserts are asynchronous inserts (`async_insert=1`): the server buffers
                   small batches from many gateways into large parts, and answers once the
                   rows are flushed (`wait_for_async_insert=1`), so an acknowledged batch is
                   durable and a failed one is retried by the writer.
    ChdbBackend    the embedded engine (`chdb`) in a local directory: the same SQL engine in
                   process, for a single node and for the tests. chdb allows one directory per
                   process; opening a second one is a ConfigError.

Foreign errors become `StoreError` here (the writer retries those); rows a column cannot hold
(a string in a number column) fail while the batch is encoded, as ValueError/TypeError, which
the writer treats as poison and isolates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from rampway.errors import ConfigError, StoreError
from rampway.events.clickhouse._url import EventsTarget
from rampway.events.clickhouse.schema import quote

Columns = Sequence[Sequence[Any]]


class EventsUnavailable(ConfigError):
    """The embedded engine's directory cannot be opened here: another process (a running
    `rampway serve`) or another directory of this process holds the engine. chdb serves one
    process at a time; a reader that can do without a fresh look (`rollout status`) says so
    and shows what is stored instead."""


class Backend(Protocol):
    """What rampway needs of ClickHouse. `types` is column → ClickHouse type for `insert`."""

    def command(self, sql: str) -> None: ...

    def columns(self, sql: str) -> list[list[Any]]:
        """The result as one list per selected column (NULL → None)."""
        ...

    def arrays(self, sql: str) -> list[Any]:
        """The result as one numpy array per selected column: numbers as numbers (NULL →
        NaN), anything else as objects — for many rows, without a Python object per number."""
        ...

    def insert(self, table: str, types: Mapping[str, str], columns: Columns,
               token: str | None = None) -> None:
        """`token`: the batch's deduplication token — an insert repeating one the table has
        seen recently is skipped (a batch retried after a lost acknowledgement)."""
        ...

    def close(self) -> None: ...


class ChdbBackend:
    """The embedded engine in `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        try:
            from chdb import session
        except ImportError as exc:
            raise ConfigError("events: chdb:// needs the embedded engine: "
                              "pip install 'rampway[clickhouse]'") from exc
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = session.Session(str(path))  # type: ignore[no-untyped-call]
        except RuntimeError as exc:  # held by another process, or another directory here
            raise EventsUnavailable(
                f"events: cannot open {path}: {_first_line(exc)} (chdb:// serves one process at "
                "a time: a running `rampway serve` holds it — ask it with --server, or use a "
                "clickhouse:// server for several processes)") from exc
        self.path = path

    def command(self, sql: str) -> None:
        self._run(sql, "Null")

    def columns(self, sql: str) -> list[list[Any]]:
        table = self._run(sql, "ArrowTable")
        return [column.to_pylist() for column in table.columns]

    def arrays(self, sql: str) -> list[Any]:
        return [_numpy(column) for column in self._run(sql, "ArrowTable").columns]

    def insert(self, table: str, types: Mapping[str, str], columns: Columns,
               token: str | None = None) -> None:
        import pyarrow as pa

        names = list(types)
        # Arrow with the columns' own types: a value that does not fit fails here, as
        # ArrowInvalid/ArrowTypeError (ValueError/TypeError), before anything is written.
        schema = pa.schema([(n, _arrow_type(types[n])) for n in names])
        rampway_rows = pa.Table.from_arrays(
            [_arrow_array(c, f.type) for c, f in zip(columns, schema, strict=True)],
            schema=schema)
        listed = ", ".join(names)
        # chdb's Python() table function reads the local variable of that name
        settings = "" if token is None else \
            f" SETTINGS insert_deduplication_token = {quote(token)}"
        self._run(f"INSERT INTO {table} ({listed}){settings} SELECT {listed} "
                  "FROM Python(rampway_rows)", "Null")
        del rampway_rows

    def close(self) -> None:
        self._session.close()  # type: ignore[no-untyped-call]

    def _run(self, sql: str, fmt: str) -> Any:
        try:
            return self._session.query(sql, fmt)  # type: ignore[no-untyped-call]
        except RuntimeError as exc:  # chdb's ChdbError
            raise StoreError(f"events store (chdb {self.path}): {_first_line(exc)}") from exc


class ServerBackend:
    """A ClickHouse server over HTTP(S); the database is created if missing."""

    def __init__(self, target: EventsTarget, *, connect_timeout: float = 5.0,
                 send_receive_timeout: float = 60.0) -> None:
        try:
            import clickhouse_connect
            from clickhouse_connect.driver.exceptions import ClickHouseError
        except ImportError as exc:
            raise ConfigError("events: clickhouse:// needs clickhouse-connect: "
                              "pip install 'rampway[clickhouse]'") from exc
        self._errors = ClickHouseError
        self.url = target.url
        try:
            # no session id: the writer thread and the readers use one client at once
            self._client = clickhouse_connect.get_client(
                host=target.host, port=target.port, username=target.username,
                password=target.password, secure=target.secure,
                connect_timeout=connect_timeout, send_receive_timeout=send_receive_timeout,
                autogenerate_session_id=False,
            )
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {target.database}")
        except ClickHouseError as exc:
            raise StoreError(f"events store ({self.url}): {_first_line(exc)}") from exc
        self._client.database = target.database

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except self._errors as exc:
            raise StoreError(f"events store ({self.url}): {_first_line(exc)}") from exc

    def columns(self, sql: str) -> list[list[Any]]:
        try:
            result = self._client.query(sql)
        except self._errors as exc:
            raise StoreError(f"events store ({self.url}): {_first_line(exc)}") from exc
        found = [list(c) for c in result.result_columns]
        return found or [[] for _ in result.column_names]

    def arrays(self, sql: str) -> list[Any]:
        import numpy as np

        return [np.asarray(c, dtype=np.float64 if _numeric(c) else object)
                for c in self.columns(sql)]

    def insert(self, table: str, types: Mapping[str, str], columns: Columns,
               token: str | None = None) -> None:
        from clickhouse_connect.driver.exceptions import DataError

        # A batch with a token is inserted synchronously: plain MergeTree tables deduplicate
        # an asynchronous insert by its token only on recent servers (and `Replicated` ones
        # with `async_insert_deduplicate`), so a retried batch could be stored twice. The
        # writer batches already (hundreds to thousands of rows an insert), which is what
        # ClickHouse asks of synchronous inserts; the server batches the token-less ones.
        settings: dict[str, Any] = {"async_insert": 1, "wait_for_async_insert": 1}
        if token is not None:
            settings = {"async_insert": 0, "insert_deduplication_token": token}
        try:
            self._client.insert(
                table, list(columns), column_names=list(types), column_oriented=True,
                column_type_names=list(types.values()), settings=settings,
            )
        except DataError as exc:  # a value the column cannot hold: the rows' fault (poison)
            raise ValueError(f"events store ({self.url}): {_first_line(exc)}") from exc
        except self._errors as exc:
            raise StoreError(f"events store ({self.url}): {_first_line(exc)}") from exc

    def close(self) -> None:
        self._client.close()


def _arrow_type(clickhouse: str) -> Any:
    import pyarrow as pa

    base = clickhouse
    for wrapper in ("LowCardinality(", "Nullable("):
        if base.startswith(wrapper):
            base = base[len(wrapper):-1]
    return {"Bool": pa.bool_(), "Float64": pa.float64(), "Int64": pa.int64(),
            "UInt32": pa.uint32(), "String": pa.string()}[base]


def _numpy(column: Any) -> Any:
    """An Arrow column as numpy: numbers as float64/int64 (NULL → NaN), strings (and
    dictionary-encoded LowCardinality strings) as an object array."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.combine_chunks()
        if not column.null_count:  # each distinct value made a Python object once
            words = np.asarray(column.dictionary.to_pylist() + [None], dtype=object)
            return words[column.indices.to_numpy(zero_copy_only=False)]
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if column.null_count:
            return column.to_numpy(zero_copy_only=False).astype(np.float64)
        return column.to_numpy()
    return np.asarray(column.to_pylist(), dtype=object)


def _numeric_type(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) or v is None for v in values)


def _arrow_array(values: Any, arrow_type: Any) -> Any:
    """A column as an Arrow array of `arrow_type`: Python lists and numpy arrays are converted,
    Arrow arrays cast (both refuse a value the type cannot hold)."""
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        given = values.type
        if given == arrow_type:
            return values
        if not (pa.types.is_null(given) or _numeric_type(given) and _numeric_type(arrow_type)):
            # a cast would parse strings into numbers: refuse, as pa.array(list) would
            raise TypeError(f"a {given} column cannot be stored as {arrow_type}")
        return values.cast(arrow_type)  # a safe cast: overflow raises
    return pa.array(values, type=arrow_type)


def open_backend(target: EventsTarget) -> ChdbBackend | ServerBackend:
    if target.path is not None:  # chdb://
        return ChdbBackend(target.path)
    return ServerBackend(target)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "Backend", "ChdbBackend", "Columns", "EventsUnavailable", "ServerBackend", "open_backend",
]
