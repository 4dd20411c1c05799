"""Writes as events: what hooks and listeners receive, and the transaction they happen in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from .caller import Caller

WriteOperation = Literal["create", "update", "delete"]
logger = logging.getLogger("backforge.store")


@dataclass
class WriteEvent:
    """One record written. `values` (before hooks) may be changed; `record` and `old` are the
    record after and before the write, as an admin would see it (hidden fields left out)."""

    collection: str
    operation: WriteOperation
    caller: Caller
    values: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    old: dict[str, Any] | None = None
    record_id: str | None = None


@dataclass
class Transaction:
    """The write transaction in progress on this thread/task, shared by nested writes."""

    connection: Connection
    committed: list[WriteEvent] = field(default_factory=list)
    collections: set[str] = field(default_factory=set)
    # Run once the transaction has ended, committed or rolled back, its connection (and on
    # SQLite the write lock) given back: writes that must outlive a rollback, each in a
    # transaction of its own (a failed login inside a custom endpoint's transaction).
    after_end: list[Callable[[], None]] = field(default_factory=list)
    # Run once the transaction has committed, never after a rollback: effects outside the
    # database that must follow the write only (mail from user code).
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # (collection, operation, record id) of every write, kept only while someone listens
    # (`StoreEvents.on_records_committed`): realtime subscribers hear of them after the commit.
    records: list[tuple[str, WriteOperation, str]] = field(default_factory=list)
    # Run once the transaction has rolled back for certain (its work failed before the COMMIT
    # was sent), its connection given back: undoing effects outside the database that only a
    # commit would keep (files uploaded for its writes).
    on_rollback: list[Callable[[], None]] = field(default_factory=list)
    # Opened by a write that runs one statement and nothing else (`writing(alone=True)`): on
    # PostgreSQL from the event loop that statement commits by itself, with no BEGIN or COMMIT.
    alone: bool = False

    def ended(self) -> None:
        _run_all(self.after_end, "work after a transaction failed")

    def rolled_back(self) -> None:
        _run_all(self.on_rollback, "work after a rollback failed")


def _run_all(work: list[Callable[[], None]], failure: str) -> None:
    for item in work:
        try:
            item()
        except Exception:  # never hides the outcome of the transaction itself
            logger.exception(failure)


current_transaction: ContextVar[Transaction | None] = ContextVar(
    "backforge_transaction", default=None
)
# The transactions published inside an `ending()` block.
_ending: ContextVar[list[Transaction] | None] = ContextVar("backforge_ending", default=None)
Listener = Callable[[WriteEvent], None]
ChangeListener = Callable[[str], None]  # the name of a collection written
RecordsListener = Callable[[list[tuple[str, WriteOperation, str]]], None]
PasswordListener = Callable[[Connection, str, str], None]  # connection, collection, record id


class StoreEvents:
    """Who hears of the store's writes, and when (`RecordStore.events`). Subscribe at start-up;
    at each moment the listeners run in the order they subscribed, and what one raises inside
    the transaction rolls the write back.

    - `on_written(listener)`: `listener(event)` for each WriteEvent, inside its transaction,
      after the after-hooks (the jobs outbox: its rows commit or roll back with the write).
      While any listener is subscribed here, every write is observed: the record written is
      read back into `event.record`, and the event is kept for `on_committed`.
    - `on_committed(listener)`: `listener(event)` once the transaction has committed, after the
      after_commit hooks, for each event kept (the writes observed: by an `on_written`
      listener, or by a hook of the collection and operation); never after a rollback.
    - `on_changed(listener)`: `listener(collection)` once a transaction has committed, for each
      collection it wrote (the response cache forgets that collection's pages).
    - `on_password_set(listener)`: `listener(connection, collection, record_id)` inside the
      transaction of an update that sets an account's password (only admins may), before the
      UPDATE (the auth service ends the account's logins; a refused UPDATE undoes it).
    - `on_records_committed(listener)`: `listener([(collection, operation, record_id), ...])`
      once a transaction has committed, every record it wrote in order (realtime). Cheap: no
      write is read back for it.
    """

    __slots__ = ("changed", "committed", "password_set", "records", "written")

    def __init__(self) -> None:
        # The listeners of each moment, as the store reads them on every write.
        self.written: tuple[Listener, ...] = ()
        self.committed: tuple[Listener, ...] = ()
        self.changed: tuple[ChangeListener, ...] = ()
        self.password_set: tuple[PasswordListener, ...] = ()
        self.records: tuple[RecordsListener, ...] = ()

    def on_written(self, listener: Listener) -> None:
        self.written += (listener,)

    def on_committed(self, listener: Listener) -> None:
        self.committed += (listener,)

    def on_changed(self, listener: ChangeListener) -> None:
        self.changed += (listener,)

    def on_password_set(self, listener: PasswordListener) -> None:
        self.password_set += (listener,)

    def on_records_committed(self, listener: RecordsListener) -> None:
        self.records += (listener,)


@contextmanager
def ending() -> Iterator[None]:
    """Around a transaction and its connection: once the block is over (committed or rolled
    back, the connection given back, SQLite's write lock released), run the `after_end` work of
    each transaction published inside it."""
    transactions: list[Transaction] = []
    token = _ending.set(transactions)
    try:
        yield
    finally:
        _ending.reset(token)
        for transaction in transactions:
            transaction.ended()


@contextmanager
def published(connection: Connection, alone: bool = False) -> Iterator[Transaction]:
    """The write transaction on `connection`, as the one hooks and nested writes join."""
    transaction = Transaction(connection, alone=alone)
    opened = _ending.get()
    if opened is not None:
        opened.append(transaction)
    token = current_transaction.set(transaction)
    try:
        yield transaction
    finally:
        current_transaction.reset(token)
