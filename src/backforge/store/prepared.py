"""Statements compiled once per shape and run on the database driver directly: on SQLite, and
on PostgreSQL for reads from the event loop (`postgres_loop.py`, asyncpg).

Building a SQLAlchemy statement and executing it through a `Connection` costs several times
what the query itself costs on SQLite. The store names each statement by a key holding
everything the SQL depends on (collection, caller, request); the first request builds and
compiles it, later ones reuse the SQL text and its bound values, passing only what changes per
request (a record id, a cursor's values, an inserted row) as runtime parameters. Rows are
decoded by the column types' own result processors, as SQLAlchemy would, except SQLite's date
and time text, which the serializer formats directly.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Date, DateTime, Engine, Float
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable, Select

from ..database import as_dbapi_error, sqlite_errors
from ..rules.params import Slot

Decoder = Callable[[Any], Any] | None
Row = dict[str, Any]
# Statements kept per store; beyond it the oldest is dropped (keys name callers and filters).
CACHE_SIZE = 2048
_serials = itertools.count()
# SQLite stores these as ISO text, which the serializer turns into JSON directly: parsing it
# into a datetime only to format it again cost a tenth of a list request.
KEPT_AS_TEXT = (DateTime, Date)
# PostgreSQL's type codes for float8 and numeric: asyncpg's number types choose their result
# processor by the code of the column read (the one a declared column of the type has).
FLOAT8, NUMERIC = 701, 1700


@dataclass(frozen=True)
class DriverSql:
    """A statement compiled for the driver: its SQL, its bound values, how to decode its rows."""

    sql: str
    columns: tuple[str, ...]
    decoders: tuple[Decoder, ...]
    # (name, value already processed for the driver, processor for a runtime value)
    bound: tuple[tuple[str, Any, Decoder], ...]
    plain: bool  # no column needs decoding

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect) -> DriverSql:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        if not compiled.positional:
            raise ValueError("driver-level statements need a positional paramstyle")
        values = compiled.construct_params()
        bound = []
        for name in compiled.positiontup or ():
            # An IN list is expanded into name_1, name_2...: they share the list's type.
            parameter = compiled.binds.get(name)
            if parameter is None:
                parameter = compiled.binds[name.rsplit("_", 1)[0]]
            process = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            value = values[name]
            bound.append((name, process(value) if process else value, process))
        selected = statement.selected_columns if isinstance(statement, Select) else ()
        # Plain str: SQLAlchemy names may be a str subclass, which orjson refuses as a key.
        columns = tuple(str(column.key) for column in selected)
        decoders = tuple(
            None if isinstance(column.type, KEPT_AS_TEXT) else _result_processor(column, dialect)
            for column in selected
        )
        plain = not any(decoders)
        return cls(compiled.string, columns, decoders, tuple(bound), plain)

    def parameters(self, runtime: Mapping[str, Any] | None) -> tuple:
        if not runtime:
            return tuple(value for _name, value, _process in self.bound)
        return tuple(
            (process(runtime[name]) if process else runtime[name]) if name in runtime else value
            for name, value, process in self.bound
        )

    def decode(self, row: tuple) -> Row:
        """A row whose columns need decoding (a plain row is zipped with `columns` directly)."""
        return {
            name: (decode(value) if decode is not None and value is not None else value)
            for name, value, decode in zip(self.columns, row, self.decoders, strict=True)
        }


def _result_processor(column: Any, dialect: Dialect) -> Decoder:
    implementation = column.type.dialect_impl(dialect)
    try:
        return implementation.result_processor(dialect, None)
    except TypeError:  # asyncpg's numbers want the column's type code
        code = FLOAT8 if isinstance(column.type, Float) else NUMERIC
        return implementation.result_processor(dialect, code)


# Runs a prepared write on the driver: (prepared, connection, runtime values, alone), where
# `alone` says the statement is the only one of a transaction its write opened.
DriverWriter = Callable[["Prepared", Connection, Mapping[str, Any], bool], None]


@dataclass(frozen=True)
class Prepared:
    """A statement built once; `driver` is its driver-level form where reads use one."""

    statement: Executable
    driver: DriverSql | None
    # Where parameters of the statement's expressions are bound (rules.params): each run
    # passes their values as runtime parameters.
    slots: tuple[Slot, ...] = ()
    # How writes run on the driver (SQLite's, asyncpg's from the event loop); None: through
    # SQLAlchemy.
    writer: DriverWriter | None = None

    def execute(
        self, connection: Connection, runtime: Mapping[str, Any], alone: bool = False
    ) -> None:
        """Run a write inside the transaction `connection` holds. `alone`: it is the only
        statement of a transaction its write opened (`Transaction.alone`)."""
        if self.writer is None:
            connection.execute(self.statement, dict(runtime))
        else:
            self.writer(self, connection, runtime, alone)


def write_on_sqlite(
    prepared: Prepared, connection: Connection, runtime: Mapping[str, Any], _alone: bool
) -> None:
    """A write on the transaction's own sqlite3 connection."""
    driver = prepared.driver
    dbapi = connection.connection.dbapi_connection
    assert driver is not None and dbapi is not None
    params = driver.parameters(runtime)
    try:
        dbapi.execute(driver.sql, params)
    except sqlite3.Error as exc:
        raise as_dbapi_error(driver.sql, params, exc) from exc


class BoundedMap:
    """A dict that drops its oldest entry when full; shared by threads (PostgreSQL calls run
    in a thread pool), so changes take a lock while lookups need none."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._entries: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if key not in self._entries and len(self._entries) >= self.size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value


class PreparedCache:
    """Prepared statements by key, built on first use; the oldest goes when it is full.
    `driver_dialect`: the dialect of the driver that runs them directly (None: none does);
    `writer`: how writes run there (None: through SQLAlchemy)."""

    def __init__(
        self,
        driver_dialect: Dialect | None,
        writer: DriverWriter | None = None,
        size: int = CACHE_SIZE,
    ):
        self.dialect = driver_dialect
        self.writer = writer
        self._entries = BoundedMap(size)

    def get(
        self,
        key: Hashable | None,
        build: Callable[[], Executable | tuple[Executable, tuple[Slot, ...]]],
    ) -> Prepared:
        """The statement for `key`; a None key builds afresh (values that never repeat).
        `build` gives the statement, or the statement and the slots of its parameters."""
        prepared = self._entries.get(key) if key is not None else None
        if prepared is None:
            built = build()
            statement, slots = built if isinstance(built, tuple) else (built, ())
            dialect = self.dialect
            driver = DriverSql.compile(statement, dialect) if dialect is not None else None
            prepared = Prepared(statement, driver, slots, self.writer)
            if key is not None:
                self._entries.put(key, prepared)
        return prepared


class Reader(Protocol):
    """Runs prepared statements on one connection for the length of a read."""

    def rows(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> list[Row]: ...

    def scalar(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> Any: ...

    def data_version(self) -> Hashable | None:
        """A value that changes whenever anyone commits to the database (None: unknown)."""


class ConnectionReader:
    """On a SQLAlchemy connection: inside a write transaction, or on PostgreSQL."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def rows(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> list[Row]:
        result = self.connection.execute(prepared.statement, dict(runtime or {}))
        # Plain str names: SQLAlchemy's may be a str subclass, which orjson refuses as a key.
        names = list(map(str, result.keys()))
        return [dict(zip(names, row, strict=True)) for row in result]

    def scalar(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> Any:
        return self.connection.execute(prepared.statement, dict(runtime or {})).scalar()

    def data_version(self) -> Hashable | None:
        return None


class DriverReader:
    """On a sqlite3 connection, with the statements' driver-level SQL."""

    def __init__(self, connection: sqlite3.Connection, serial: int):
        self.connection = connection
        self.serial = serial

    def execute(self, sql: str, params: tuple) -> list[tuple]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise as_dbapi_error(sql, params, exc) from exc

    def rows(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> list[Row]:
        driver = prepared.driver
        assert driver is not None
        found = self.execute(driver.sql, driver.parameters(runtime))
        if driver.plain:  # the common case, without a call per row
            columns = driver.columns
            return [dict(zip(columns, row, strict=True)) for row in found]
        decode = driver.decode
        return [decode(row) for row in found]

    def scalar(self, prepared: Prepared, runtime: Mapping[str, Any] | None = None) -> Any:
        driver = prepared.driver
        assert driver is not None
        found = self.execute(driver.sql, driver.parameters(runtime))
        return found[0][0] if found else None

    def data_version(self) -> Hashable | None:
        # Versions of different connections do not compare: the serial tells them apart.
        return self.serial, self.execute("PRAGMA data_version", ())[0][0]


class DirectSqlite:
    """One driver connection per thread, kept open, for reads on SQLite.

    It comes from the engine (so it is configured like every other connection) and leaves its
    pool. Outside a transaction each statement sees the latest commit; a read of several
    statements runs in one read transaction so that a page and its total agree.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._local = threading.local()

    def _connection(self) -> tuple[sqlite3.Connection, int]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            proxy = self.engine.raw_connection()
            proxy.detach()
            connection = proxy.dbapi_connection
            self._local.connection = connection
            self._local.serial = next(_serials)
        return connection, self._local.serial

    def reading(self, statements: int) -> DirectRead:
        """A context for one read of `statements` statements, giving its `DriverReader`."""
        return DirectRead(self, statements)

    def _end_read(self, connection: sqlite3.Connection) -> None:
        """COMMIT the read transaction. A connection that cannot is dropped (closing rolls it
        back): kept, it would answer every later read from its old snapshot."""
        with sqlite_errors("COMMIT"):
            try:
                connection.execute("COMMIT")
            except sqlite3.Error:
                self._local.connection = None
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
                raise


class DirectRead:
    """`with direct.reading(n) as reader:` a class rather than a generator: this runs for
    every read, and a generator-based context manager cost a few microseconds each time."""

    __slots__ = ("connection", "direct", "statements")

    def __init__(self, direct: DirectSqlite, statements: int):
        self.direct = direct
        self.statements = statements

    def __enter__(self) -> DriverReader:
        connection, serial = self.direct._connection()
        reader = DriverReader(connection, serial)
        if self.statements > 1:
            reader.execute("BEGIN", ())
            self.connection = connection
        return reader

    def __exit__(self, *_exc: object) -> None:
        if self.statements > 1:
            self.direct._end_read(self.connection)
