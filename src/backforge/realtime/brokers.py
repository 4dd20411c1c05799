"""How a committed write reaches the subscribers of every process, and how a reconnecting one
catches up.

- `LocalBroker` (one process, SQLite's case): changes are numbered in order and the last
  REPLAYABLE kept in memory for `Last-Event-ID`.
- `RedisBroker` (any number of processes): each change is appended to a Redis stream (capped at
  REPLAYABLE entries); every process reads the stream and hands what it reads to its own hub, so
  a write in process B reaches a subscriber of process A, and the stream's ids are the positions
  a reconnecting client resumes from, whichever process it reaches.

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
from collections import deque
from collections.abc import Callable
from typing import Any

from .hub import Change

REPLAYABLE = 10_000  # changes a reconnecting client can still be sent
logger = logging.getLogger("backforge.realtime")
Records = list[tuple[str, str, str]]


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
        self._outbox: queue.SimpleQueue[Records] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._starting = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._newest = "0"

    async def start(self) -> None:
        last = await self._reader.xrevrange(self._key, count=1)
        self._newest = last[0][0].decode() if last else "0-0"
        self._task = asyncio.create_task(self._read(self._newest))

    def publish(self, records: Records) -> None:
        """Handed to a thread of its own: the request that wrote never waits for Redis."""
        if self._sender is None:
            with self._starting:
                if self._sender is None:
                    self._sender = threading.Thread(
                        target=self._send, name="backforge-realtime", daemon=True
                    )
                    self._sender.start()
        self._outbox.put(records)

    def _send(self) -> None:
        while True:
            batch = self._outbox.get()
            with contextlib.suppress(queue.Empty):
                while len(batch) < 500:
                    batch = batch + self._outbox.get_nowait()
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
