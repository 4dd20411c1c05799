"""Group commit on SQLite: the record writes of one turn of the event loop share one COMMIT.

Under concurrent writes, a SQLite COMMIT (the WAL append, the lock taken and given back) and
SQLAlchemy's connection and transaction around it cost several times the INSERT itself. The
record routes run each write as a member of the group of its event-loop turn: the first member
opens a transaction (BEGIN IMMEDIATE), each member writes inside its own SAVEPOINT (a write that
fails is undone alone, the others keep theirs), and the transaction commits once, when the loop
takes back control. A member's request answers only after that COMMIT, so what a client is told
is written is durable; if the COMMIT fails, every member of the group gets the error.

Each thread's event loop has its own group. A write made outside a group on that thread
(sign-in, the batch endpoint, a custom endpoint) commits the open group first, so it never waits
on a lock its own thread holds; other threads wait for the lock as they would for any writer (at
most one turn of the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..database import as_dbapi_error, begin_immediate
from .errors import Unavailable


class GroupMember:
    """One request's write, taking part in the group of its event-loop turn."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[None] | None = None

    async def committed(self) -> None:
        """Return once the write is committed; raise what stopped its COMMIT."""
        if self.future is not None:
            await self.future


# The member running on this task, set by `GroupCommit.run` around the write.
current_member: ContextVar[GroupMember | None] = ContextVar("backforge_group_member", default=None)


class _Group:
    """The open transaction of one event-loop turn."""

    def __init__(self, connection: Connection, transaction: Any, loop: asyncio.AbstractEventLoop):
        self.connection = connection
        self.transaction = transaction
        self.driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        self.loop = loop
        self.savepoints = 0
        # For each write: the future its request waits on, what runs once the COMMIT is done.
        self.members: list[tuple[asyncio.Future[None], Callable[[], None]]] = []


class GroupCommit:
    """The group of the current event-loop turn on one SQLite engine."""

    def __init__(self, engine: Engine, translate: Callable[[DBAPIError], Exception]):
        self.engine = engine
        self.translate = translate
        self._local = threading.local()  # the open group of each thread's event loop

    async def run(self, write: Callable[..., Any], *args: Any) -> Any:
        """Run `write(*args)` (a store write) as a member of this turn's group; return its
        result once it is committed."""
        member = GroupMember()
        token = current_member.set(member)
        try:
            result = write(*args)
        finally:
            current_member.reset(token)
        await member.committed()
        return result

    def joinable(self) -> GroupMember | None:
        """The member a write on this thread belongs to, if it can join a group here."""
        member = current_member.get()
        if member is None:
            return None
        try:
            asyncio.get_running_loop()  # only on the thread of a running loop
        except RuntimeError:
            return None
        return member

    @contextmanager
    def join(self, member: GroupMember, committed: Callable[[], None]) -> Iterator[Connection]:
        """The group's connection, inside a savepoint of this member; `committed` runs after the
        group's COMMIT (listeners, after-commit hooks)."""
        group = getattr(self._local, "group", None)
        if group is None:
            group = self._open()
        name = f"member_{group.savepoints}"
        group.savepoints += 1
        self._driver(group, f"SAVEPOINT {name}")
        try:
            yield group.connection
        except BaseException:
            self._driver(group, f"ROLLBACK TO {name}")
            self._driver(group, f"RELEASE {name}")
            raise
        self._driver(group, f"RELEASE {name}")
        # A member that writes twice waits for its last group (groups commit in order).
        member.future = group.loop.create_future()
        group.members.append((member.future, committed))

    def flush(self) -> None:
        """COMMIT this thread's open group, then let its members answer."""
        group = getattr(self._local, "group", None)
        self._local.group = None
        if group is None:
            return
        error: Exception | None = None
        try:
            group.transaction.commit()
        except DBAPIError as exc:
            error = self.translate(exc)
        finally:
            _close(group)
        for future, committed in group.members:
            outcome = error
            if error is None:
                try:
                    committed()
                except Exception as exc:  # an after-commit hook: reported to its own request
                    outcome = exc
            if future.done():  # its request was cancelled
                continue
            if outcome is not None:
                future.set_exception(outcome)
            else:
                future.set_result(None)

    def _open(self) -> _Group:
        loop = asyncio.get_running_loop()
        connection = self.engine.connect()
        try:
            begin_immediate(connection)
            transaction = connection.begin()
        except BaseException:
            connection.close()
            raise
        group = self._local.group = _Group(connection, transaction, loop)
        loop.call_soon(self.flush)
        return group

    def _driver(self, group: _Group, statement: str) -> None:
        """A savepoint statement; if it fails, the group cannot be trusted and is rolled back."""
        try:
            group.driver.execute(statement)
        except sqlite3.Error as exc:
            self._abandon(group)
            raise as_dbapi_error(statement, (), exc) from exc

    def _abandon(self, group: _Group) -> None:
        if getattr(self._local, "group", None) is group:
            self._local.group = None
        _close(group)
        error = Unavailable("the database is unavailable; nothing was written, try again shortly")
        for future, _ in group.members:
            if not future.done():
                future.set_exception(error)


def _close(group: _Group) -> None:
    """Give the connection back, with no transaction left open: SQLite keeps it open after a
    failed COMMIT, and SQLAlchemy does not roll it back when the connection returns to its pool."""
    with contextlib.suppress(sqlite3.Error):
        if group.driver.in_transaction:
            group.driver.rollback()
    group.connection.close()
