"""The transaction a request's work runs in, and the connections its reads take.

A write opens the one transaction of a request (`BEGIN IMMEDIATE` on SQLite; on SQLite the
record routes' writes join the group commit of their event-loop turn instead) and publishes it
in `events.current_transaction`: hooks, custom endpoints, the batch endpoint and the auth
service join it, and reads made inside it see its writes. After the commit come the
`after_commit` hooks and the store's after-commit listeners (`events.StoreEvents`), never
after a rollback; after a rollback that is certain (the work failed before its COMMIT was
sent), the transaction's `on_rollback` work (files uploaded for its writes taken back). A
database error leaves as the store's own error (`database_errors.translate`).

These are RecordStore's methods (`reader`, `reading`, `writing`, `transaction`), written as
functions taking the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from ..database import begin_immediate
from .database_errors import translate
from .events import Transaction, current_transaction, ending, published
from .group_commit import GroupMember
from .prepared import ConnectionReader, DirectRead, Reader

if TYPE_CHECKING:
    from .postgres_loop import PostgresRead
    from .records import RecordStore

logger = logging.getLogger("backforge.store")


def reader(store: RecordStore, statements: int = 1) -> AbstractContextManager[Reader]:
    """Prepared statements for one read: inside the write transaction when one is open,
    else on this thread's own SQLite connection, else on PostgreSQL's driver from the event
    loop, else on a pooled connection."""
    if current_transaction.get() is not None:
        return _connection_reader(store)
    if store._direct is not None:
        return _TranslatedErrors(store._direct.reading(statements))
    if store._direct_postgres is not None:
        read = store._direct_postgres.reading(statements)
        if read is not None:
            return _TranslatedErrors(read)
    return _connection_reader(store)


@contextmanager
def _connection_reader(store: RecordStore) -> Iterator[Reader]:
    with reading(store) as connection:
        yield ConnectionReader(connection)


@contextmanager
def reading(store: RecordStore) -> Iterator[Connection]:
    """A connection to read on: the open write transaction's (inside a hook, it sees the
    transaction's own writes), else one from the pool."""
    transaction = current_transaction.get()
    if transaction is not None:
        yield transaction.connection  # inside a hook: see the transaction's own writes
        return
    try:
        with store.connect() as connection:
            yield connection
    except DBAPIError as exc:
        raise _translated(exc, None) from None


@contextmanager
def writing(store: RecordStore, table: Table | None, alone: bool = False) -> Iterator[Connection]:
    """One transaction per request; writes made by hooks inside it join it. `table` is the
    one the request writes (its constraints name the fields of an integrity error, and its
    name is reported changed after the commit), None for several. `alone`: the caller runs
    one statement in it and nothing after that statement (no hook, listener or read back);
    it is kept only when this call opens the transaction (`Transaction.alone`)."""
    transaction = current_transaction.get()
    if transaction is not None:
        try:
            yield transaction.connection
        except DBAPIError as exc:  # named here: a batch says which of its writes failed
            raise _translated(exc, table) from None
        return
    member = store.group.joinable() if store.group is not None else None
    if member is not None:
        yield from _writing_in_group(store, member, table)
        return
    transaction: Transaction | None = None
    committing = False
    try:
        with ending(), store.connect() as connection:
            begin_immediate(connection)
            with connection.begin(), published(connection, alone) as transaction:
                yield connection
                committing = True
    except DBAPIError as exc:
        _rolled_back(transaction, committing)
        raise _translated(exc, table) from None
    except BaseException:
        _rolled_back(transaction, committing)
        raise
    _committed(store, transaction, table.name if table is not None else None)


def _writing_in_group(
    store: RecordStore, member: GroupMember, table: Table | None
) -> Iterator[Connection]:
    transaction: Transaction | None = None

    def committed() -> None:
        assert transaction is not None
        _committed(store, transaction, table.name if table is not None else None)

    assert store.group is not None
    committing = False
    try:
        with (
            ending(),  # after the savepoint: a connection taken then commits the group first
            store.group.join(member, committed) as connection,
            published(connection) as transaction,
        ):
            yield connection
            committing = True
    except DBAPIError as exc:
        _rolled_back(transaction, committing)
        raise _translated(exc, table) from None
    except BaseException:
        _rolled_back(transaction, committing)
        raise


@contextmanager
def transaction(store: RecordStore) -> Iterator[Connection]:
    """Several operations, all or nothing (the batch endpoint, custom endpoints); the
    collections they write are the ones reported changed."""
    with writing(store, None) as connection:
        yield connection


def _committed(store: RecordStore, transaction: Transaction, collection: str | None) -> None:
    events = store.events
    written = transaction.collections | ({collection} if collection is not None else set())
    try:
        for name in written:
            for listener in events.changed:
                listener(name)
        if transaction.records:
            for records_listener in events.records:
                records_listener(transaction.records)
        for event in transaction.committed:
            store.hooks.run("after_commit", event, store)
            for listener in events.committed:
                listener(event)
    finally:  # an after-commit hook that fails does not undo what the commit decided
        for work in transaction.on_commit:
            try:
                work()
            except Exception:  # the write stands whatever its follow-up does
                logger.exception("work after a commit failed")


def _rolled_back(transaction: Transaction | None, committing: bool) -> None:
    """Undo what only a commit keeps — when the rollback is certain: the work failed before
    its COMMIT (or savepoint release) was sent. A COMMIT that fails may still have taken
    effect (a connection lost on the way): its files stay, for `backforge files prune`."""
    if transaction is not None and not committing:
        transaction.rolled_back()


class _TranslatedErrors:
    """Wraps a read's context: a database error leaves it as the store's own error."""

    __slots__ = ("read",)

    def __init__(self, read: DirectRead | PostgresRead):
        self.read = read

    def __enter__(self) -> Reader:
        try:
            return self.read.__enter__()
        except DBAPIError as exc:
            raise _translated(exc, None) from None

    def __exit__(self, kind: type | None, exc: BaseException | None, traceback: Any) -> None:
        try:
            self.read.__exit__(kind, exc, traceback)
        except DBAPIError as error:
            raise _translated(error, None) from None
        if isinstance(exc, DBAPIError):
            raise _translated(exc, None) from None


def _translated(exc: DBAPIError, table: Table | None) -> Exception:
    error = translate(exc, table)
    return error if error is not None else exc
