"""Database exceptions translated into store errors that name the field, never the SQL."""

from __future__ import annotations

import re

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .errors import Conflict, StoreError, Unavailable

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ((?:\w+\.\w+(?:, )?)+)")


def translate(exc: DBAPIError, table: Table | None) -> StoreError | None:
    """A StoreError for what a client can cause or must wait out; None means a real bug."""
    if isinstance(exc, IntegrityError):
        return _integrity(exc, table)
    if exc.connection_invalidated or (isinstance(exc, OperationalError) and _is_unavailable(exc)):
        return Unavailable("the database is unavailable; nothing was written, try again shortly")
    return None


def _integrity(exc: IntegrityError, table: Table | None) -> StoreError:
    message = str(exc.orig)
    constraint = _constraint_name(exc.orig)
    match = _SQLITE_UNIQUE.search(message)
    fields = [part.split(".")[-1] for part in match.group(1).split(", ")] if match else []
    if not fields and table is not None:
        fields = _constraint_columns(table, constraint)
    if fields or "unique" in message.lower() or "duplicate key" in message:
        if len(fields) > 1:  # unique together: the last is the one a client usually chose
            names = ", ".join(f"'{f}'" for f in fields)
            return Conflict(f"another record already has these values of {names}", fields[-1])
        name = fields[0] if fields else "a unique field"
        return Conflict(
            f"another record already has this value of '{name}'", fields[0] if fields else None
        )
    if "FOREIGN KEY" in message or "foreign key" in message:
        return Conflict("the record is referenced by, or refers to, a record that prevents this")
    return Conflict("the change conflicts with a constraint of the database")


def _constraint_name(error: BaseException | None) -> str:
    """The constraint PostgreSQL names: psycopg's `diag`, or asyncpg's error (the cause of
    SQLAlchemy's adapted one)."""
    for source in (error, getattr(error, "__cause__", None)):
        diag = getattr(source, "diag", None)
        name = getattr(diag, "constraint_name", None) or getattr(source, "constraint_name", None)
        if name:
            return name
    return ""


def _constraint_columns(table: Table, name: str) -> list[str]:
    """The columns of the table's unique constraint `name` (PostgreSQL names the constraint)."""
    for constraint in table.constraints:
        if constraint.name == name:
            return [column.name for column in getattr(constraint, "columns", ())]
    prefix = f"uq_{table.name}_"
    return [name[len(prefix) :]] if name.startswith(prefix) else []


def _is_unavailable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    if "database is locked" in text or "busy" in text:
        return True
    markers = ("connection", "could not connect", "server closed", "terminating", "shutdown")
    return any(m in text for m in markers) or "unable to open database" in text
