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

    def ended(self) -> None:
        for work in self.after_end:
            try:
                work()
            except Exception:  # never hides the outcome of the transaction itself
                logger.exception("work after a transaction failed")


current_transaction: ContextVar[Transaction | None] = ContextVar(
    "backforge_transaction", default=None
)
# The transactions published inside an `ending()` block.
_ending: ContextVar[list[Transaction] | None] = ContextVar("backforge_ending", default=None)
Listener = Callable[[WriteEvent], None]


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
def published(connection: Connection) -> Iterator[Transaction]:
    """The write transaction on `connection`, as the one hooks and nested writes join."""
    transaction = Transaction(connection)
    opened = _ending.get()
    if opened is not None:
        opened.append(transaction)
    token = current_transaction.set(transaction)
    try:
        yield transaction
    finally:
        current_transaction.reset(token)
