"""The realtime hub on its own: changes reach only the subscriptions that want them, a
subscriber that stops reading is dropped without ever making a writer wait, and a caller's
streams are counted against its limit."""

from __future__ import annotations

import asyncio

import pytest

from backforge.realtime.brokers import LocalBroker
from backforge.realtime.hub import QUEUE_SIZE, Change, Hub, Subscription, TooManyStreams, owner_of
from backforge.store.caller import Caller

ANN = Caller(id="ann1", collection="users", method="token")
BOB = Caller(id="bob1", collection="users", method="token")


def change(number: int, collection: str = "notes", record_id: str = "r1") -> Change:
    return Change(str(number), collection, "update", record_id)


def test_changes_reach_the_subscriptions_that_want_them():
    hub = Hub(per_caller=5)
    everything = Subscription(ANN, "notes", owner_of(ANN, ""))
    one = Subscription(BOB, "notes", owner_of(BOB, ""), record_id="r2")
    other = Subscription(BOB, "tasks", owner_of(BOB, ""))
    for subscription in (everything, one, other):
        hub.subscribe(subscription)
    hub.deliver(change(1, record_id="r1"))
    hub.deliver(change(2, record_id="r2"))
    assert [everything.queue.get_nowait().position for _ in range(2)] == ["1", "2"]
    assert one.queue.get_nowait().record_id == "r2" and one.queue.empty()
    assert other.queue.empty()


def test_a_subscriber_that_stops_reading_is_dropped_and_never_blocks_the_writer():
    hub = Hub(per_caller=5)
    stalled = Subscription(ANN, "notes", owner_of(ANN, ""))
    reading = Subscription(BOB, "notes", owner_of(BOB, ""))
    hub.subscribe(stalled)
    hub.subscribe(reading)
    for number in range(QUEUE_SIZE * 3):  # deliver is synchronous: it cannot wait
        hub.deliver(change(number))
        reading.queue.get_nowait()
    assert stalled.dropped and not reading.dropped
    assert stalled.queue.qsize() == 1  # what it held is let go; one change wakes its stream


def test_a_callers_streams_are_limited_and_counted_back_down():
    hub = Hub(per_caller=2)
    first, second = (Subscription(ANN, "notes", owner_of(ANN, "")) for _ in range(2))
    hub.subscribe(first)
    hub.subscribe(second)
    with pytest.raises(TooManyStreams):
        hub.subscribe(Subscription(ANN, "notes", owner_of(ANN, "")))
    hub.subscribe(Subscription(BOB, "notes", owner_of(BOB, "")))  # another caller's own count
    hub.unsubscribe(first)
    hub.subscribe(Subscription(ANN, "tasks", owner_of(ANN, "")))
    assert hub.count == 3
    anonymous = Caller()
    assert owner_of(anonymous, "10.0.0.1") != owner_of(anonymous, "10.0.0.2")


def test_the_local_broker_replays_what_it_still_keeps():
    delivered: list[Change] = []
    broker = LocalBroker(delivered.append)

    async def run() -> None:
        await broker.start()
        broker.publish([("notes", "create", "a"), ("notes", "update", "a")])
        await asyncio.sleep(0)  # delivery happens on the loop
        await asyncio.sleep(0)

    asyncio.run(run())
    assert [c.position for c in delivered] == ["1", "2"]
    assert asyncio.run(broker.since("1")) == [delivered[1]]
    assert asyncio.run(broker.since("0")) == delivered
    assert asyncio.run(broker.since("x")) is None
    assert broker.newest() == "2"
