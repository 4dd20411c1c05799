"""What a job handler receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .. import clock
from ..store.bound import BoundStore
from ..store.hooks import SYSTEM

if TYPE_CHECKING:
    from ..store.records import RecordStore


class JobContext:
    """One run of a job.

    `idempotency_key` is the same on every run of the job (the write's event id, or the cron
    tick), so a handler whose run was cut short can tell what it already did:

        def send_receipt(ctx):
            with ctx.once("receipt") as first:
                if first:
                    ctx.system.create("receipts", {"order": ctx.record["id"]})

    Writes made through `ctx.system` inside `once` commit together with the mark, or not at all.
    """

    def __init__(
        self,
        store: RecordStore,
        *,
        name: str,
        kind: str,
        idempotency_key: str,
        attempt: int,
        payload: dict[str, Any],
    ):
        self.name = name
        self.kind = kind
        self.idempotency_key = idempotency_key
        self.attempt = attempt
        self.payload = payload
        self.event: dict[str, Any] | None = payload.get("event")
        self.collection = self.event["collection"] if self.event else None
        self.operation = self.event["operation"] if self.event else None
        self.record: dict[str, Any] | None = self.event["record"] if self.event else None
        self.old: dict[str, Any] | None = self.event["old"] if self.event else None
        self.tick: str | None = payload.get("tick")
        # What the code that enqueued the job passed (`enqueue(name, data)`).
        self.data: Any = payload.get("data")
        # Jobs run after the request, for no caller: the store without rules.
        self.system = BoundStore(store, SYSTEM)
        self._store = store

    @contextmanager
    def once(self, step: str = "") -> Iterator[bool]:
        """A transaction in which `first` says whether this step has not been done before;
        the step is marked done when the block commits (an exception undoes both)."""
        from .tables import DONE

        table = self._store.metadata.tables[DONE]
        key = f"{self.idempotency_key}#{step}" if step else self.idempotency_key
        with self._store.transaction() as connection:
            seen = connection.execute(select(table.c.key).where(table.c.key == key)).first()
            if seen is None:
                connection.execute(table.insert().values(key=key, created=clock.now()))
            yield seen is None

    def done_before(self, step: str = "") -> bool:
        """Whether `once(step)` has committed for this job (a read, for steps with no writes)."""
        from .tables import DONE

        table = self._store.metadata.tables[DONE]
        key = f"{self.idempotency_key}#{step}" if step else self.idempotency_key
        with self._store.engine.connect() as connection:
            query = select(table.c.key).where(table.c.key == key)
            return connection.execute(query).first() is not None
