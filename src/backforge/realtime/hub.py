"""Who is subscribed to what in this process, and the changes each is owed.

A committed write becomes a `Change` (collection, operation, record id, and the position the
broker gave it). The hub hands each change to the subscriptions of its collection without
looking at the record: every subscription has a bounded queue of its own, and the stream that
serves it reads the record as its subscriber, in SQL, when it takes the change from the queue.
A queue that fills up (a consumer too slow to keep up) marks its subscription dropped; the
stream then ends with that reason, and no writer ever waits for a reader.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

from ..store.caller import Caller

QUEUE_SIZE = 256  # changes waiting for one subscriber before it is dropped
REMEMBERED_IDS = 10_000  # records a subscription was sent, for the deletes it is owed


@dataclass(frozen=True, slots=True)
class Change:
    position: str  # the broker's: increasing integers in-process, stream ids with Redis
    collection: str
    operation: str  # create, update, delete
    record_id: str


@dataclass(eq=False)
class Subscription:
    caller: Caller
    collection: str
    owner: str = ""  # whom the per-caller limit counts it for: the account, else the address
    filter: str | None = None
    record_id: str | None = None
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False
    # Records sent to this subscriber (and not deleted since): a record leaving its view, or
    # deleted, is announced only to those who had it.
    sent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def wants(self, change: Change) -> bool:
        return change.collection == self.collection and (
            self.record_id is None or change.record_id == self.record_id
        )

    def remember(self, record_id: str) -> None:
        self.sent[record_id] = None
        self.sent.move_to_end(record_id)
        if len(self.sent) > REMEMBERED_IDS:
            self.sent.popitem(last=False)

    def forget(self, record_id: str) -> bool:
        """Whether the subscriber had the record (and now no longer has it)."""
        return self.sent.pop(record_id, False) is None


class TooManyStreams(Exception):
    """A caller opened more streams than the limit."""


class Hub:
    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._by_collection: dict[str, set[Subscription]] = {}
        self._per_caller: dict[str, int] = {}

    @property
    def count(self) -> int:
        return sum(len(group) for group in self._by_collection.values())

    def listening(self) -> bool:
        return any(self._by_collection.values())

    def subscriptions(self, collection: str) -> list[Subscription]:
        return list(self._by_collection.get(collection, ()))

    def subscribe(self, subscription: Subscription) -> None:
        key = subscription.owner
        if self._per_caller.get(key, 0) >= self.per_caller:
            raise TooManyStreams(f"at most {self.per_caller} open streams per caller")
        self._per_caller[key] = self._per_caller.get(key, 0) + 1
        self._by_collection.setdefault(subscription.collection, set()).add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        group = self._by_collection.get(subscription.collection)
        if group is None or subscription not in group:
            return
        group.discard(subscription)
        key = subscription.owner
        self._per_caller[key] -= 1
        if not self._per_caller[key]:
            del self._per_caller[key]

    def deliver(self, change: Change) -> None:
        """On the event loop: queue the change for every subscription that wants it."""
        for subscription in tuple(self._by_collection.get(change.collection, ())):
            if subscription.dropped or not subscription.wants(change):
                continue
            try:
                subscription.queue.put_nowait(change)
            except asyncio.QueueFull:
                subscription.dropped = True
                subscription.queue = asyncio.Queue(1)  # free what it held; wake the stream
                subscription.queue.put_nowait(change)


def owner_of(caller: Caller, address: str) -> str:
    """Whom a stream counts for: the admin, an account, or an anonymous client's address."""
    if caller.is_admin:
        return "admin"
    return f"{caller.collection}:{caller.id}" if caller.id else f"address:{address}"
