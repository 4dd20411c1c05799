"""Database exceptions translated into store errors that name the field, never the SQL."""

from __future__ import annotations

import re

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .errors import Conflict, StoreError, Unavailable

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: \w+\.(\w+)")


def translate(exc: DBAPIError, table: Table | None) -> StoreError | None:
    """A StoreError for what a client can cause or must wait out; None means a real bug."""
    if isinstance(exc, IntegrityError):
        return _integrity(exc, table)
    if exc.connection_invalidated or (isinstance(exc, OperationalError) and _is_unavailable(exc)):
        return Unavailable("the database is unavailable; nothing was written, try again shortly")
    return None


def _integrity(exc: IntegrityError, table: Table | None) -> StoreError:
    message = str(exc.orig)
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    match = _SQLITE_UNIQUE.search(message)
    field = match.group(1) if match else None
    if field is None and table is not None and constraint.startswith(f"uq_{table.name}_"):
        field = constraint[len(f"uq_{table.name}_") :]
    if field is not None or "unique" in message.lower() or "duplicate key" in message:
        name = field or "a unique field"
        return Conflict(f"another record already has this value of '{name}'", field)
    if "FOREIGN KEY" in message or "foreign key" in message:
        return Conflict("the record is referenced by, or refers to, a record that prevents this")
    return Conflict("the change conflicts with a constraint of the database")


def _is_unavailable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    if "database is locked" in text or "busy" in text:
        return True
    markers = ("connection", "could not connect", "server closed", "terminating", "shutdown")
    return any(m in text for m in markers) or "unable to open database" in text
