"""Where the HTTP layer runs blocking calls: the one place that decides.

- `store`: the store's own work (reads, and writes with their hooks). On SQLite a call is short
  and runs inline on the event loop (a thread pool measured slower on one core: GIL
  contention, every connection scanning at once). On PostgreSQL it runs in a greenlet on the
  loop and waits for the database through asyncpg (`store.postgres_loop`), so the loop serves
  other requests meanwhile without a thread hand-off per call.
- `write`: a record write; on SQLite it joins the event-loop turn's group commit
  (store.group_commit), on PostgreSQL as `store`.
- `run`: anything else that may block for long (password hashing, user code): inline on
  SQLite as before, in a worker thread on PostgreSQL (its store calls then use psycopg).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy.util import greenlet_spawn

from ..store.records import RecordStore

Result = TypeVar("Result")


class Offload:
    def __init__(self, store: RecordStore):
        self.inline = store.engine.dialect.name == "sqlite"
        self.on_loop = store.loop is not None
        self.group = store.group

    async def run(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        if self.inline:
            return function(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    async def store(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        if self.on_loop:
            return await greenlet_spawn(function, *args, **kwargs)
        return await self.run(function, *args, **kwargs)

    async def write(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """A record write: on SQLite it commits with the other writes of this turn of the event
        loop and returns once that COMMIT is done."""
        if self.group is not None:
            return await self.group.run(functools.partial(function, *args, **kwargs))
        return await self.store(function, *args, **kwargs)
