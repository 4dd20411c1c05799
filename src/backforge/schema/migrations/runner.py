"""Running migrations: the migration lock, the history table, statements in one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from ...database import begin_immediate
from .errors import ForeignKeyCheckError, MigrationApplyError

HISTORY_TABLE = "_bf_migrations"
LOCK_WAIT_SECONDS = 600.0

history = Table(
    HISTORY_TABLE,
    MetaData(),
    Column("name", String(255), primary_key=True),
    Column("checksum", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@contextmanager
def locked_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the migration lock; it commits when the block ends cleanly.

    PostgreSQL: a transaction-scoped advisory lock per schema. SQLite: BEGIN IMMEDIATE (the write
    lock), retried while another process holds it; foreign keys are switched off for the
    transaction, which SQLite allows only outside one, and ``PRAGMA foreign_key_check`` must come
    back empty before commit, so a table rebuild neither cascades deletes nor leaves dangling rows.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_locked_transaction(engine) as connection:
            yield connection
        return
    with engine.connect() as connection, connection.begin():
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('backforge.migrate:' || current_schema()))")
        )
        yield connection


@contextmanager
def _sqlite_locked_transaction(engine: Engine) -> Iterator[Connection]:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        connection = engine.connect()
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            begin_immediate(connection)
            transaction = connection.begin()
            break
        except OperationalError as exc:
            _restore_foreign_keys(connection, raw)
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield connection
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if violations:
            tables = sorted({f"{row[0]} -> {row[2]}" for row in violations})
            raise ForeignKeyCheckError(
                f"{len(violations)} row(s) would point at rows that do not exist "
                f"({', '.join(tables)}); nothing was changed"
            )
        transaction.commit()
    except BaseException:
        if transaction.is_active:
            transaction.rollback()
        raise
    finally:
        _restore_foreign_keys(connection, raw)


def _restore_foreign_keys(connection: Connection, raw) -> None:
    try:
        raw.execute("PRAGMA foreign_keys=ON")
    except Exception:
        # A connection that cannot enforce foreign keys must not go back to the pool.
        connection.invalidate()
    finally:
        connection.close()


def ensure_history(connection: Connection) -> None:
    history.create(connection, checkfirst=True)


def read_history(connection: Connection) -> dict[str, tuple[str, datetime]]:
    """name -> (checksum, applied_at); empty when nothing was ever applied."""
    if not inspect(connection).has_table(HISTORY_TABLE):
        return {}
    rows = connection.execute(select(history).order_by(history.c.applied_at, history.c.name))
    return {row.name: (row.checksum, row.applied_at) for row in rows}


def run_statements(connection: Connection, name: str, statements: list[str]) -> None:
    for statement in statements:
        try:
            connection.exec_driver_sql(statement)
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise MigrationApplyError(
                f"{name}: the database refused a step, so nothing of {name} was applied.\n"
                f"  statement: {statement.splitlines()[0][:200]}\n  reason: {reason}"
            ) from None


def record(connection: Connection, name: str, checksum: str) -> None:
    connection.execute(
        insert(history).values(name=name, checksum=checksum, applied_at=datetime.now(UTC))
    )
