"""Group commit on SQLite: the record writes of one turn of the event loop share one COMMIT.

Under concurrent writes, a SQLite COMMIT (the WAL append, the lock taken and given back) and
SQLAlchemy's connection and transaction around it cost several times the INSERT itself. The
record routes run each write as a member of the group of its event-loop turn: the first member
opens a transaction (BEGIN IMMEDIATE), each member writes inside its own SAVEPOINT (a write that
fails is undone alone, the others keep theirs), and the transaction commits once, when the loop
takes back control. A member's request answers only after that COMMIT, so what a client is told
is written is committed; a refused write (409, 412, 404, a hook's refusal) waits too, since it
was judged on the group's state. If the COMMIT fails, every member of the group is told that
nothing was written (503, try again).

Each thread's event loop has its own group. Any other connection taken on that thread (sign-in,
the batch endpoint, a custom endpoint, the jobs admin) commits the open group first, so it never
waits on a lock its own thread holds; other threads and processes (the jobs worker, other server
workers) wait for the lock as they would for any writer, at most one turn of the loop longer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, event

from ..database import begin_immediate
from .errors import Unavailable
from .events import current_transaction

logger = logging.getLogger("backforge.store")


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

    def __init__(self, engine: Engine):
        self.engine = engine
        self._local = threading.local()  # the open group of each thread's event loop
        # Any other connection taken on this thread commits the open group first, whoever takes
        # it (the store, the auth service, the jobs outbox): else a transaction on it could wait
        # for a lock held by a group that commits only when this thread is back in its loop.
        event.listen(engine, "engine_connect", self._before_other_connection)

    async def run(self, write: Callable[..., Any], *args: Any) -> Any:
        """Run `write(*args)` (a store write) as a member of this turn's group; return its
        result once it is committed.

        A write refused inside the group (409, 412, 404, a hook's refusal) also waits for the
        COMMIT: the refusal may rest on another member's write, which must be committed before
        anyone is told about it; if that COMMIT fails, the answer is a 503 instead."""
        member = GroupMember()
        token = current_member.set(member)
        failure: Exception | None = None
        result = None
        try:
            result = write(*args)
        except Exception as exc:
            failure = exc
        finally:
            current_member.reset(token)
        try:
            await member.committed()
        except Unavailable as unavailable:
            if failure is None:
                raise
            raise unavailable from failure
        if failure is not None:
            raise failure
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
        if group is not None and group.loop is not asyncio.get_running_loop():
            self._abandon(group)  # left open by a loop that stopped before committing it
            group = None
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
            # Refused, but judged on the group's state: answered after its COMMIT (see `run`).
            self._wait_for_commit(member, group, _nothing)
            raise
        self._driver(group, f"RELEASE {name}")
        self._wait_for_commit(member, group, committed)

    @staticmethod
    def _wait_for_commit(member: GroupMember, group: _Group, then: Callable[[], None]) -> None:
        # A member that writes twice waits for its last group (groups commit in order).
        member.future = group.loop.create_future()
        group.members.append((member.future, then))

    def flush(self) -> None:
        """COMMIT this thread's open group, then let its members answer."""
        group = getattr(self._local, "group", None)
        if group is None:
            return
        self._local.group = None
        committed_ok = False
        try:
            group.transaction.commit()
            committed_ok = True
        except Exception:
            logger.exception("a group of %d writes failed to commit", len(group.members))
        finally:
            _close(group)
        for future, committed in group.members:
            outcome: BaseException | None = None if committed_ok else _not_written()
            if committed_ok:
                try:
                    committed()
                except Exception as exc:  # an after-commit hook: reported to its own request
                    outcome = exc
            _settle(future, outcome)

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
        # In a context of its own: the flush must not run as the member that opened the group
        # (a write of an after-commit hook would join a new group as that member).
        loop.call_soon(self.flush, context=contextvars.Context())
        return group

    def _before_other_connection(self, _connection: Connection) -> None:
        # Not from inside a write (a member's savepoint is open): as before groups, a second
        # transaction begun there waits for the first.
        if getattr(self._local, "group", None) is not None and current_transaction.get() is None:
            self.flush()

    def _driver(self, group: _Group, statement: str) -> None:
        """A savepoint statement; if it fails, the group cannot be trusted and is rolled back:
        nothing of it is written, and the write at hand is told so (503)."""
        try:
            group.driver.execute(statement)
        except sqlite3.Error as exc:
            self._abandon(group)
            raise _not_written() from exc

    def _abandon(self, group: _Group) -> None:
        if getattr(self._local, "group", None) is group:
            self._local.group = None
        _close(group)
        for future, _ in group.members:
            _settle(future, _not_written())


def _nothing() -> None:
    pass


def _not_written() -> Unavailable:
    # A fresh error per request: nothing of the group was written, whichever write caused it.
    return Unavailable("the database could not commit this write; nothing was written, try again")


def _settle(future: asyncio.Future[None], outcome: BaseException | None) -> None:
    if future.done():  # its request was cancelled
        return
    try:
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
    except RuntimeError:  # its event loop is closed: nobody waits for it any more
        pass


def _close(group: _Group) -> None:
    """Give the connection back (what a failed COMMIT left open is rolled back at check-in:
    `database._end_open_transaction`)."""
    try:
        group.connection.close()
    except Exception:
        logger.exception("closing the connection of a write group failed")
