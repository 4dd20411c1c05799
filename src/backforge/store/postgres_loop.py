"""PostgreSQL from the event loop: the store's calls from requests run in a greenlet on the loop.

The store's code is synchronous. On SQLite it runs inline on the event loop; on PostgreSQL it
ran in a worker thread per call through psycopg, and the thread hand-offs, GIL contention
and SQLAlchemy's execution path cost a read by id 450 to 600 µs of the server's CPU. Here the
same synchronous code runs in a greenlet (SQLAlchemy's `greenlet_spawn`, as its asyncio
extension does) and each wait on the database is handed to the event loop through asyncpg:
about 240 µs through SQLAlchemy (reads inside a write's transaction, hooks' statements), and
about 35 µs for a read outside one, run as a prepared statement on the driver
(`DirectPostgres`), like SQLite's reads; the store's INSERTs run on the driver too
(`write_on_asyncpg`). bench/README.md has the measurements.

Code that runs outside such a greenlet — worker threads, user code, the CLI — keeps the
psycopg engine; `LoopEngines.current()` says which applies. asyncpg's connections belong to
the event loop that made them, so each loop gets an engine of its own.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

from ..spec.server import Database
from .prepared import DriverReader, Prepared

logger = logging.getLogger("backforge.store")


def asyncpg_connection(url: URL) -> tuple[URL, dict[str, Any]] | None:
    """The asyncpg URL and connect arguments for a psycopg URL, or None when the URL has a
    parameter asyncpg cannot be given (then the store keeps psycopg in worker threads)."""
    settings: dict[str, str] = {}
    arguments: dict[str, Any] = {}
    for name, value in url.query.items():
        if isinstance(value, tuple):
            return None
        if name == "application_name":
            settings[name] = value
        elif name == "options":
            parsed = _server_options(value)
            if parsed is None:
                return None
            settings |= parsed
        elif name == "sslmode":
            arguments["ssl"] = value
        elif name == "connect_timeout" and value.replace(".", "", 1).isdigit():
            arguments["timeout"] = float(value)
        else:
            return None
    if settings:
        arguments["server_settings"] = settings
    return url.set(drivername="postgresql+asyncpg", query={}), arguments


def _server_options(options: str) -> dict[str, str] | None:
    """`-c name=value` pairs of libpq's `options` parameter."""
    found: dict[str, str] = {}
    try:
        words = iter(shlex.split(options))
    except ValueError:  # an unbalanced quote: libpq would refuse it too
        return None
    for word in words:
        if word == "-c":
            word = next(words, "")
        elif word.startswith("-c"):
            word = word[2:]
        else:
            return None
        name, equals, value = word.partition("=")
        if not equals or not name:
            return None
        found[name.replace("-", "_")] = value
    return found


class LoopEngines:
    """Per event loop: an asyncpg engine for the greenlets that run on it, and the
    connections its reads outside a transaction take (`ReadConnections`)."""

    def __init__(self, url: URL, arguments: dict[str, Any], pool: Database):
        self.url = url
        self.arguments = arguments
        self.pool = pool
        self._loops: dict[asyncio.AbstractEventLoop, LoopDatabase] = {}
        # What statements run on the driver are compiled for (an engine connects on first use).
        self.dialect = create_async_engine(url).sync_engine.dialect

    @classmethod
    def for_engine(cls, engine: Engine, pool: Database) -> LoopEngines | None:
        """For a PostgreSQL engine whose URL asyncpg can use; None otherwise."""
        if engine.dialect.name != "postgresql":
            return None
        found = asyncpg_connection(engine.url)
        if found is None:
            logger.warning(
                "DATABASE_URL has connection parameters asyncpg cannot take; "
                "PostgreSQL calls run in worker threads through psycopg"
            )
            return None
        return cls(*found, pool)

    def current(self) -> LoopDatabase | None:
        """The running greenlet's event loop's; None outside such a greenlet."""
        if not in_greenlet():
            return None
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            # What belonged to loops that have ended cannot be closed on them; let it go.
            for ended in [known for known in self._loops if known.is_closed()]:
                del self._loops[ended]
            found = self._loops[loop] = LoopDatabase(self._create(), self.pool, loop)
        return found

    def _create(self) -> AsyncEngine:
        dbapi = self.dialect.loaded_dbapi
        _, parameters = self.dialect.create_connect_args(self.url)
        parameters |= self.arguments

        async def connect() -> Any:
            import asyncpg

            try:
                return await asyncpg.connect(**parameters)
            except OSError as exc:  # refused, unreachable, timed out: a database error too
                raise dbapi.OperationalError(f"could not connect to the database: {exc}") from exc

        engine = create_async_engine(
            self.url,
            async_creator=connect,
            # A fixed pool: connections opened past it would be closed again at check-in,
            # and under steady load that churn (each a TLS handshake) cost a third of a read.
            pool_size=self.pool.pool_size,
            max_overflow=0,
            pool_timeout=self.pool.pool_timeout,
            json_deserializer=orjson.loads,
        )
        event.listen(engine.sync_engine, "checkout", _still_open)
        return engine


def _still_open(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pessimistic check that costs nothing: asyncpg notices a connection the server
    closed (a restart, an idle timeout) as soon as the loop reads its end of the socket.
    The pool then replaces it instead of handing it to a request."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the connection was closed by the server")


class LoopDatabase:
    """One event loop's engine (SQLAlchemy's pool: writes, reads inside them) and read
    connections."""

    def __init__(self, engine: AsyncEngine, pool: Database, loop: asyncio.AbstractEventLoop):
        self.async_engine = engine  # kept: the sync engine is its facade
        self.engine = engine.sync_engine
        self.reads = ReadConnections(self.engine, pool, loop)


class ReadConnections:
    """Up to `pool_size` connections for reads outside a transaction, beside the engine's
    pool. A read takes one and gives it back without a round trip or a timer: SQLAlchemy's
    pool check-out and check-in (an asyncio queue read under a timeout, a reset) cost about
    a tenth of a read by id. They come from the engine, so they are configured as its own
    are (asyncpg's JSON codecs), then leave its pool."""

    def __init__(self, engine: Engine, pool: Database, loop: asyncio.AbstractEventLoop):
        self.engine = engine
        self.size = pool.pool_size
        self.timeout = pool.pool_timeout
        self.loop = loop
        self.idle: list[Any] = []
        self.opened = 0
        self.waiting: deque[asyncio.Future] = deque()

    def take(self) -> Any:
        """A connection (SQLAlchemy's adapted one), waiting for one when all are in use."""
        while self.idle:
            adapted = self.idle.pop()
            if not adapted.driver_connection.is_closed():
                return adapted
            self.opened -= 1  # closed by the server while idle
        if self.opened >= self.size:
            adapted = self._wait()
            if adapted is not None:
                return adapted
        self.opened += 1  # a place was free, or was freed by a connection that broke
        try:
            proxy = self.engine.raw_connection()
        except BaseException:
            self.opened -= 1
            self._hand_over(None)  # the next waiter may try (and fail fast while it is down)
            raise
        proxy.detach()
        return proxy.dbapi_connection

    def _wait(self) -> Any:
        """A connection handed over by a read that ended, or None for a place to open one."""
        waiter = self.loop.create_future()
        self.waiting.append(waiter)
        try:
            return await_(asyncio.wait_for(waiter, self.timeout))
        except TimeoutError:
            raise PoolTimeout(
                f"no read connection came free in {self.timeout:g} s "
                f"(server.database.pool_size is {self.size})"
            ) from None
        except BaseException:  # cancelled: pass on what was handed over meanwhile
            if waiter.done() and not waiter.cancelled():
                self._hand_over(waiter.result())
            raise

    def give_back(self, adapted: Any, broken: bool) -> None:
        if broken or adapted.driver_connection.is_closed():
            self.opened -= 1
            adapted.driver_connection.terminate()
            adapted = None  # a waiter opens a new one in its place
        self._hand_over(adapted)

    def _hand_over(self, adapted: Any) -> None:
        """To the first read still waiting, else (a connection) to the idle ones."""
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(adapted)
                return
        if adapted is not None:
            self.idle.append(adapted)


class DirectPostgres:
    """Reads outside a write transaction, on the driver: an asyncpg connection runs each
    statement's driver-level SQL (asyncpg prepares it once per connection) with no
    transaction around it."""

    def __init__(self, engines: LoopEngines):
        self.engines = engines

    def reading(self, statements: int) -> PostgresRead | None:
        """A context giving a reader, or None outside a greenlet on the loop."""
        found = self.engines.current()
        return PostgresRead(found) if found is not None else None


class PostgresRead:
    __slots__ = ("adapted", "database")

    def __init__(self, database: LoopDatabase):
        self.database = database

    def __enter__(self) -> PostgresReader:
        engine = self.database.engine
        dbapi = engine.dialect.loaded_dbapi
        try:
            self.adapted = self.database.reads.take()
        except dbapi.Error as exc:  # as Engine.connect() would raise it
            raise DBAPIError.instance(None, None, exc, dbapi.Error, dialect=engine.dialect) from exc
        return PostgresReader(self.adapted, engine)

    def __exit__(self, kind: type | None, _exc: object, _traceback: object) -> None:
        # Cancelled or failed mid-statement: the connection may still be busy with it.
        self.database.reads.give_back(self.adapted, broken=kind is not None)


class PostgresReader(DriverReader):
    """Runs prepared statements for one read on asyncpg; rows and scalars as on SQLite."""

    def __init__(self, adapted: Any, engine: Engine):
        self.adapted = adapted  # SQLAlchemy's adapted connection: it translates asyncpg's errors
        self.driver = adapted.driver_connection
        self.engine = engine

    def execute(self, sql: str, params: tuple) -> list:
        try:
            return await_(self.driver.fetch(sql, *params))
        except Exception as error:
            raise _translated(self.adapted, self.engine.dialect, sql, params, error) from error

    def data_version(self) -> str:
        """The database's snapshot: equal snapshots see exactly the same commits (a
        transaction that commits leaves the in-progress list or moves xmax), so a total
        counted at one still holds at the other, whichever process wrote."""
        return self.execute("SELECT pg_current_snapshot()::text", ())[0][0]


def write_on_asyncpg(
    prepared: Prepared, connection: Connection, runtime: Mapping[str, Any], alone: bool
) -> None:
    """A write's driver-level SQL on the asyncpg connection under `connection` (a loop
    engine's), skipping SQLAlchemy's execution layer (statement cache, execution context,
    result object), which a write does not need.

    In the transaction: through the adapted DB-API cursor, which sends the BEGIN first if
    nothing has run yet, as SQLAlchemy would. `alone`, when nothing has run yet either: as one
    statement of its own, which PostgreSQL commits by itself, atomic and as durable as a
    COMMIT: the BEGIN and COMMIT round trips are saved, and the commit that follows has
    nothing left to do. From a thread (psycopg's engine): through SQLAlchemy."""
    if connection.dialect.driver != "asyncpg":
        connection.execute(prepared.statement, dict(runtime))
        return
    driver = prepared.driver
    adapted = connection.connection.dbapi_connection
    assert driver is not None and adapted is not None
    params = driver.parameters(runtime)
    # The adapted connection's transaction: None until a statement has run in this one.
    if alone and adapted._transaction is None:
        try:
            await_(adapted.driver_connection.execute(driver.sql, *params))
        except Exception as error:
            raise _translated(adapted, connection.dialect, driver.sql, params, error) from error
        return
    cursor = adapted.cursor()
    try:
        cursor.execute(driver.sql, params)
    except connection.dialect.loaded_dbapi.Error as exc:
        invalidated = connection.dialect.is_disconnect(exc, adapted, cursor)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            driver.sql,
            params,
            exc,
            connection.dialect.loaded_dbapi.Error,
            invalidated,
            connection.dialect,
        ) from exc
    finally:
        cursor.close()


def _translated(
    adapted: Any, dialect: Dialect, sql: str, params: tuple, error: Exception
) -> DBAPIError:
    """asyncpg's `error` as SQLAlchemy would raise it (its adapted connection translates it)."""
    dbapi = dialect.loaded_dbapi
    try:
        adapted._handle_exception(error)
    except dbapi.Error as translated:
        return DBAPIError.instance(
            sql,
            params,
            translated,
            dbapi.Error,
            connection_invalidated=adapted.driver_connection.is_closed(),
            dialect=dialect,
        )
    raise AssertionError("unreachable: _handle_exception always raises")
