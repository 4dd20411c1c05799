"""Where the HTTP layer runs the store's (blocking) calls: the one place that decides.

On SQLite a call is short and runs inline on the event loop (a thread pool measured slower on
one core: GIL contention, every connection scanning at once); on a network database it runs in
a worker thread, so that the loop serves other requests while it waits. Record writes on
SQLite join the event-loop turn's group commit (store.group_commit)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

from ..store.records import RecordStore

Result = TypeVar("Result")


class Offload:
    def __init__(self, store: RecordStore):
        self.inline = store.engine.dialect.name == "sqlite"
        self.group = store.group

    async def run(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        if self.inline:
            return function(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    async def write(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """A record write: on SQLite it commits with the other writes of this turn of the event
        loop and returns once that COMMIT is done."""
        if self.group is not None:
            return await self.group.run(functools.partial(function, *args, **kwargs))
        return await self.run(function, *args, **kwargs)
