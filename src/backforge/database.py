"""Engines for the two supported databases, configured the way backforge needs them."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from .extras import require

BUSY_TIMEOUT_MS = 5000
# Reads come straight from the OS page cache through a memory map, without a read() system
# call and a copy into SQLite's own 2 MB cache per page missed (a `get` by random id missed
# about once per request). Writes still go through the WAL as before.
MMAP_BYTES = 256 * 1024 * 1024


def database_url(declaration_path: str | Path | None, spec_name: str) -> str:
    """DATABASE_URL when set, else a SQLite file beside the declaration."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalize_url(url)
    folder = Path(declaration_path).resolve().parent if declaration_path else Path.cwd()
    return f"sqlite:///{folder / (spec_name + '.db')}"


def declaration_engine(declaration_path: str | Path, spec_name: str) -> Engine:
    """The engine of the database a declaration is served from (see `database_url`)."""
    return create_database_engine(database_url(declaration_path, spec_name))


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick our drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_database_engine(url: str) -> Engine:
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        # Let BEGIN be issued by us, so that writes can take the lock up front (BEGIN IMMEDIATE).
        event.listen(engine, "begin", _begin_sqlite)
        event.listen(engine, "checkin", _end_open_transaction)
        return engine
    if backend == "postgresql":
        require("postgres", "PostgreSQL (DATABASE_URL)")
        # JSONB writes a large float (1e269) out in full digits; orjson reads such a number back
        # as a float, where json.loads made an int too large for any JSON encoder.
        return create_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_deserializer=orjson.loads
        )
    raise ValueError(f"unsupported database '{backend}': use sqlite or postgresql")


def _configure_sqlite(dbapi_connection, _record) -> None:
    # Take over transaction control from the sqlite3 module (see the 'begin' listener).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


def _end_open_transaction(dbapi_connection, _record) -> None:
    """Roll back what a connection returning to the pool still holds. SQLite keeps a transaction
    open after a failed COMMIT (a deferred foreign key, a full disk); when that COMMIT was called
    directly (`Transaction.commit()`, as group commit does), SQLAlchemy takes the transaction for
    ended and does not roll it back, and every later BEGIN on the connection would fail."""
    if dbapi_connection is not None and dbapi_connection.in_transaction:
        with suppress(sqlite3.Error):
            dbapi_connection.rollback()


def _begin_sqlite(connection) -> None:
    mode = connection.info.pop("begin_mode", "DEFERRED")
    statement = f"BEGIN {mode}"
    # On the driver directly: through exec_driver_sql it cost a tenth of a small insert.
    with sqlite_errors(statement):
        connection.connection.driver_connection.execute(statement)


@contextmanager
def sqlite_errors(statement: str, params: Any = ()) -> Iterator[None]:
    """sqlite3 errors of a call made on the driver, raised as SQLAlchemy's DBAPIError, the
    form the store translates into problems (409, 503) for every other statement."""
    try:
        yield
    except sqlite3.Error as exc:
        raise as_dbapi_error(statement, params, exc) from exc


def as_dbapi_error(statement: str, params: Any, error: sqlite3.Error) -> DBAPIError:
    """What `sqlite_errors` raises, for the hottest call sites that catch errors themselves."""
    return DBAPIError.instance(statement, params, error, sqlite3.Error)


def begin_immediate(connection) -> None:
    """Ask the next BEGIN on this SQLite connection to take the write lock at once."""
    if connection.dialect.name == "sqlite":
        connection.info["begin_mode"] = "IMMEDIATE"
