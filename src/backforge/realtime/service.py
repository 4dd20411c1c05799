"""Realtime for one app: the hub of this process, the broker between processes (Redis when the
deployment has it, else PostgreSQL's LISTEN/NOTIFY on PostgreSQL, else this process alone), and
the store listener that feeds them."""

from __future__ import annotations

import asyncio

from ..store.records import RecordStore
from .brokers import LocalBroker, PostgresBroker, RedisBroker
from .hub import Hub

STREAMS_PER_CALLER = 20


class Realtime:
    def __init__(self, store: RecordStore, redis_url: str | None, key_prefix: str) -> None:
        self.hub = Hub(STREAMS_PER_CALLER)
        self.broker: LocalBroker | RedisBroker | PostgresBroker
        if redis_url:
            self.broker = RedisBroker(self.hub.deliver, redis_url, f"{key_prefix}realtime")
        elif store.engine.dialect.name == "postgresql":
            self.broker = PostgresBroker(self.hub.deliver, store.engine)
        else:
            self.broker = LocalBroker(self.hub.deliver, self.hub.listening)
        self._started: asyncio.Task[None] | None = None
        store.events.on_records_committed(self.broker.publish)

    async def start(self) -> None:
        """Once, on the first stream opened (the serving loop is running by then); a start
        that failed (Redis unreachable) is tried again by the next stream."""
        if self._started is None:
            self._started = asyncio.ensure_future(self.broker.start())
        try:
            await asyncio.shield(self._started)
        except Exception as exc:
            self._started = None
            raise RealtimeUnavailable(f"realtime is unavailable: {type(exc).__name__}") from exc


class RealtimeUnavailable(Exception):
    """What carries changes between processes cannot be reached."""
