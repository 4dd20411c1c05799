"""How a committed write reaches the subscribers of every process, and how a reconnecting one
catches up.

- `LocalBroker` (one process, SQLite's case): changes are numbered in order and the last
  REPLAYABLE kept in memory for `Last-Event-ID`.
- `RedisBroker` (any number of processes): each change is appended to a Redis stream (capped at
  REPLAYABLE entries); every process reads the stream and hands what it reads to its own hub, so
  a write in process B reaches a subscriber of process A, and the stream's ids are the positions
  a reconnecting client resumes from, whichever process it reaches.
- `PostgresBroker` (any number of processes on PostgreSQL without Redis): each change is a row
  of a log table (`_bf_realtime`, its serial the position) and a NOTIFY that every process
  LISTENs for; a reconnecting client is replayed from the table.

`publish` is called after the commit from whatever thread committed and never waits: delivery
happens on the event loop, and Redis is written by a thread of the broker's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .hub import Change

REPLAYABLE = 10_000  # changes a reconnecting client can still be sent
logger = logging.getLogger("backforge.realtime")
Records = list[tuple[str, str, str]]


class Sender:
    """A thread of its own that hands what was committed, in batches of up to 500 changes, to
    `write`: the request that wrote never waits for Redis or the database log."""

    def __init__(self, write: Callable[[Records], None]) -> None:
        self._write = write
        self._outbox: queue.SimpleQueue[Records] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def put(self, records: Records) -> None:
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="backforge-realtime", daemon=True
                    )
                    self._thread.start()
        self._outbox.put(records)

    def _run(self) -> None:
        while True:
            batch = self._outbox.get()
            with contextlib.suppress(queue.Empty):
                while len(batch) < 500:
                    batch = batch + self._outbox.get_nowait()
            self._write(batch)


class LocalBroker:
    def __init__(
        self, deliver: Callable[[Change], None], listening: Callable[[], bool] = lambda: True
    ) -> None:
        self._deliver = deliver
        self._listening = listening
        self._numbers = itertools.count(1)
        self._log: deque[Change] = deque(maxlen=REPLAYABLE)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def publish(self, records: Records) -> None:
        loop = self._loop
        if loop is None:
            return  # not serving (a script using the store): nobody can be subscribed
        changes = [Change(str(next(self._numbers)), *record) for record in records]
        self._log.extend(changes)  # kept for a reconnecting client, subscribers or not
        if not self._listening():
            return  # nobody here to tell: no wake-up of the loop for every write
        loop.call_soon_threadsafe(_deliver_all, self._deliver, changes)

    async def since(self, position: str) -> list[Change] | None:
        """The changes after `position`, or None when they are no longer all kept."""
        if not position.isdigit():
            return None
        after = int(position)
        if not self._log:
            return [] if after == 0 else None
        first = int(self._log[0].position)
        if after < first - 1:
            return None
        return [change for change in self._log if int(change.position) > after]

    def newest(self) -> str:
        return self._log[-1].position if self._log else "0"


class RedisBroker:
    """Changes through a Redis stream: XADD after each commit, one XREAD loop per process."""

    def __init__(self, deliver: Callable[[Change], None], url: str, key: str) -> None:
        import redis
        import redis.asyncio

        self._deliver = deliver
        self._key = key
        self._writer = redis.Redis.from_url(url)  # used by the sending thread alone
        self._reader = redis.asyncio.Redis.from_url(url)
        self._sender = Sender(self._write)
        self._task: asyncio.Task[None] | None = None
        self._newest = "0"

    async def start(self) -> None:
        last = await self._reader.xrevrange(self._key, count=1)
        self._newest = last[0][0].decode() if last else "0-0"
        self._task = asyncio.create_task(self._read(self._newest))

    def publish(self, records: Records) -> None:
        """Handed to the sender thread: the request that wrote never waits for Redis."""
        self._sender.put(records)

    def _write(self, batch: Records) -> None:
        try:
            with self._writer.pipeline(transaction=False) as pipe:
                for collection, operation, record_id in batch:
                    fields = {"c": collection, "o": operation, "i": record_id}
                    pipe.xadd(self._key, fields, maxlen=REPLAYABLE, approximate=True)
                pipe.execute()
        except Exception:  # the writes are committed: a lost announcement is only logged
            logger.exception("realtime: could not publish %d change(s) to Redis", len(batch))

    async def _read(self, position: str) -> None:
        while True:
            try:
                answer = await self._reader.xread({self._key: position}, block=5000, count=500)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("realtime: reading the Redis stream failed; retrying")
                await asyncio.sleep(1)
                continue
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    position = entry_id.decode()
                    self._newest = position
                    self._deliver(_change(position, fields))

    async def since(self, position: str) -> list[Change] | None:
        """The changes after `position`, or None when it is not (or no longer) in the stream."""
        if not _stream_id(position):
            return None
        if position != "0-0":
            kept = await self._reader.xrange(self._key, min=position, max=position)
            if not kept:
                return None  # trimmed away, or never one of this stream's
        entries = await self._reader.xrange(self._key, min=f"({position}", count=REPLAYABLE)
        return [_change(entry_id.decode(), fields) for entry_id, fields in entries]

    def newest(self) -> str:
        return self._newest


class PostgresBroker:
    """Changes through PostgreSQL: a log table and LISTEN/NOTIFY. Rows are added, and notices
    sent, under one advisory lock per batch, so positions arrive in the order they count.

    A process publishes only while the log table exists: the first stream opened anywhere
    creates it, and an app nobody subscribes to pays one existence check a second of writes.
    The process that opens a stream logs its writes at once; another learns of the table within
    a second (so only at a deployment's first stream ever may a change go unannounced)."""

    LOCK = 0x62667274  # the advisory lock of the log's writers ("bfrt")
    CHECK_EVERY = 1.0  # seconds between checks that the log table exists, while it does not
    TRIM_EVERY = 200  # batches between removals of what is no longer replayable

    def __init__(self, deliver: Callable[[Change], None], engine: Any) -> None:
        self._deliver = deliver
        self._engine = engine
        self._sender = Sender(self._write)
        self._checked = 0.0  # when the sender last looked for the log table
        self._batches = 0
        self._task: asyncio.Task[None] | None = None
        self._newest = "0"
        self._channel = ""
        self._logging = False  # whether the log table is known to exist

    async def start(self) -> None:
        self._channel = await asyncio.to_thread(self._prepare)
        listener = await self._listening()
        # Read after LISTEN: a change committed in between is heard, not skipped.
        self._newest = str(await asyncio.to_thread(self._last))
        self._logging = True  # this process's writes are logged from now on, whatever it knew
        self._task = asyncio.create_task(self._listen(listener))

    def _prepare(self) -> str:
        with self._engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({self.LOCK})")
            connection.exec_driver_sql(
                "CREATE TABLE IF NOT EXISTS _bf_realtime (position BIGSERIAL PRIMARY KEY, "
                "collection TEXT NOT NULL, operation TEXT NOT NULL, record_id TEXT NOT NULL)"
            )
            return _channel(connection)

    def _last(self) -> int:
        with self._engine.connect() as connection:
            return (
                connection.exec_driver_sql("SELECT max(position) FROM _bf_realtime").scalar() or 0
            )

    async def _listening(self) -> Any:
        listener = await _listener(self._engine)
        await listener.execute(f"LISTEN {self._channel}")
        return listener

    def publish(self, records: Records) -> None:
        """Handed to the sender thread: the request that wrote never waits for the log."""
        self._sender.put(records)

    def _write(self, batch: Records) -> None:
        try:
            now = time.monotonic()
            if not self._logging and now - self._checked > self.CHECK_EVERY:
                self._logging, self._checked = self._logged(), now
            if self._logging:
                self._batches += 1
                self._append(batch, trim=self._batches % self.TRIM_EVERY == 0)
        except Exception:  # the writes are committed: a lost announcement is only logged
            self._logging = False
            logger.exception("realtime: could not log %d change(s)", len(batch))

    def _logged(self) -> bool:
        with self._engine.connect() as connection:
            found = connection.exec_driver_sql("SELECT to_regclass('_bf_realtime')").scalar()
        return found is not None

    def _append(self, batch: Records, trim: bool) -> None:
        with self._engine.begin() as connection:
            if not self._channel:  # a process that writes but has not opened a stream yet
                self._channel = _channel(connection)
            channel = self._channel
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({self.LOCK})")
            for collection, operation, record_id in batch:
                connection.exec_driver_sql(
                    "WITH added AS (INSERT INTO _bf_realtime (collection, operation, record_id) "
                    "VALUES (%(c)s, %(o)s, %(i)s) RETURNING position) "
                    "SELECT pg_notify(%(channel)s, position || ' ' || %(c)s || ' ' || %(o)s "
                    "|| ' ' || %(i)s) FROM added",
                    {"c": collection, "o": operation, "i": record_id, "channel": channel},
                )
            if trim:
                connection.exec_driver_sql(
                    "DELETE FROM _bf_realtime WHERE position <= "
                    "(SELECT max(position) FROM _bf_realtime) - %(kept)s",
                    {"kept": REPLAYABLE},
                )

    async def _listen(self, listener: Any) -> None:
        while True:
            try:
                async for notice in listener.notifies():
                    position, collection, operation, record_id = notice.payload.split(" ")
                    self._take(Change(position, collection, operation, record_id))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("realtime: listening on PostgreSQL failed; reconnecting")
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await listener.close()
                with contextlib.suppress(Exception):
                    listener = await self._listening()
                    # What was committed while nobody here listened comes from the log.
                    missed = await asyncio.to_thread(self._since, int(self._newest))
                    if missed is None:
                        logger.warning("realtime: changes made while reconnecting are gone")
                    for change in missed or ():
                        self._take(change)

    def _take(self, change: Change) -> None:
        """Deliver a change once: one replayed after a reconnect may be heard as well."""
        if int(change.position) <= int(self._newest):
            return
        self._newest = change.position
        self._deliver(change)

    async def since(self, position: str) -> list[Change] | None:
        """The changes after `position`, or None when they are no longer all kept."""
        if not position.isdigit():
            return None
        return await asyncio.to_thread(self._since, int(position))

    def _since(self, after: int) -> list[Change] | None:
        with self._engine.connect() as connection:
            oldest = connection.exec_driver_sql("SELECT min(position) FROM _bf_realtime").scalar()
            if oldest is None:
                return [] if after <= int(self._newest) else None
            if after < oldest - 1:
                return None
            rows = connection.exec_driver_sql(
                "SELECT position, collection, operation, record_id FROM _bf_realtime "
                "WHERE position > %(after)s ORDER BY position LIMIT %(kept)s",
                {"after": after, "kept": REPLAYABLE},
            )
            return [Change(str(row[0]), row[1], row[2], row[3]) for row in rows]

    def newest(self) -> str:
        return self._newest


def _channel(connection: Any) -> str:
    """The NOTIFY channel of this schema's log (channels are per database, not per schema)."""
    import hashlib

    schema = connection.exec_driver_sql("SELECT current_schema()").scalar() or ""
    return "bf_realtime_" + hashlib.sha256(schema.encode()).hexdigest()[:16]


async def _listener(engine: Any) -> Any:
    """A connection of its own that only listens (autocommit, as LISTEN needs)."""
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


def _deliver_all(deliver: Callable[[Change], None], changes: list[Change]) -> None:
    for change in changes:
        deliver(change)


def _change(position: str, fields: dict[Any, Any]) -> Change:
    def text(key: bytes) -> str:
        return fields[key].decode()

    return Change(position, text(b"c"), text(b"o"), text(b"i"))


def _stream_id(text: str) -> bool:
    milliseconds, dash, sequence = text.partition("-")
    return bool(dash) and milliseconds.isdigit() and sequence.isdigit()


def position_order(position: str) -> tuple[int, int]:
    """Positions of either broker in the order they were given (`12`, `1733550000000-3`)."""
    first, _, second = position.partition("-")
    return int(first), int(second or 0)
