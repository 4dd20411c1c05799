"""`GET /api/realtime?collection=NAME[&filter=EXPR][&id=ID]`: a collection's changes as
Server-Sent Events, each only for a subscriber who may view the record at that moment.

    id: 42
    event: update
    data: {"action": "update", "record": {"id": "…", "title": "…"}}

Every change taken from the subscription's queue is read back as the subscriber (the collection's
`view` rule and the subscription's filter in the statement, hidden fields left out, the same as
`GET /api/NAME/ID`). What the subscriber may not see is not sent; a record it was sent and may
no longer see (moved out of its view, or deleted) comes as `event: delete` with the id only.

The first event, `ready`, carries the position the stream starts from as its id: a client that
reconnects sends the last id it received as `Last-Event-ID` and is sent what it missed (still
read as it is now), or `event: reset` when that is no longer kept (re-read, then go on).
Comment lines keep an idle stream open. The stream ends with `event: error` when the subscriber's
queue overflows, or when its access token expires (a client reconnects with a fresh one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..http.callers import Callers
from ..http.offload import Offload
from ..http.problems import ProblemError
from ..rules.ast import Comparison, Path
from ..store.caller import Caller
from ..store.errors import Forbidden, InvalidQuery
from ..store.ids import new_id
from ..store.listing import ListRequest
from ..store.reads import Narrowing
from ..store.records import RecordStore
from .brokers import position_order
from .hub import Change, Subscription, TooManyStreams, owner_of
from .service import Realtime, RealtimeUnavailable

logger = logging.getLogger("backforge.realtime")
KEEP_ALIVE = 15.0  # seconds between comment lines on an idle stream
READS_KEPT = 4096  # recent (change, caller, filter) reads, shared by that caller's streams
SUBSCRIBE_WITHIN = 10.0  # seconds a WebSocket client has to send its subscription
Event = tuple[str, str, dict[str, Any]]  # position, name, data
PARAMETERS = frozenset({"collection", "filter", "id"})
RECORD = "record"
BY_ID = (Comparison(Path(("id",), 0), "=", Path(("params", RECORD), 0), 0),)


class RealtimeStream:
    def __init__(
        self,
        store: RecordStore,
        caller_of: Callable[[Request], Caller],
        realtime: Realtime,
        callers: Callers | None = None,
    ) -> None:
        """`callers`: the app's own (not remembered per request), for WebSocket credentials."""
        self.store = store
        self.caller_of = caller_of
        self.callers = callers
        self.realtime = realtime
        self.offload = Offload(store)
        self._reads: OrderedDict[tuple, dict[str, Any] | None] = OrderedDict()

    async def open(self, request: Request) -> StreamingResponse:
        """The Server-Sent Events stream."""
        address = request.client.host if request.client else ""
        subscription = await self.subscribe(self.caller_of(request), request.query_params, address)
        resume = request.headers.get("last-event-id")
        return StreamingResponse(
            _sse(self.events(subscription, resume)),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def socket(self, websocket: WebSocket) -> None:
        """The WebSocket: the client's first message subscribes, `{"collection": …, "filter":
        …, "id": …, "last_event_id": …, "token": …}`; each event is then one JSON message,
        `{"event": "update", "position": "42", "action": "update", "record": {…}}`.
        Credentials come from the Authorization or X-API-Key header, or the message's
        `token`; never from cookies, which a browser would send for any site's page."""
        await websocket.accept()
        try:
            asked = await asyncio.wait_for(websocket.receive_json(), SUBSCRIBE_WITHIN)
            if not isinstance(asked, dict):
                raise ValueError("not an object")
            params = {k: str(v) for k, v in asked.items() if k in PARAMETERS and v is not None}
            caller = self.socket_caller(websocket, asked.get("token"))
            address = websocket.client.host if websocket.client else ""
            subscription = await self.subscribe(caller, params, address)
        except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):
            await _close(websocket, 1008, "send a subscription object first")
            return
        except ProblemError as problem:
            await websocket.send_json(
                {"event": "error", "status": problem.status, "detail": problem.detail}
            )
            await _close(websocket, 1008, problem.detail)
            return
        resume = asked.get("last_event_id")
        events = self.events(subscription, str(resume) if resume is not None else None)

        async def forward() -> None:
            async for event in events:
                if event is not None:
                    position, name, data = event
                    await websocket.send_json({"event": name, "position": position, **data})

        async def hang_up() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # the client has nothing more to say

        try:
            tasks = [asyncio.ensure_future(forward()), asyncio.ensure_future(hang_up())]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)  # let go of the generator
            for task in done:
                failure = task.exception()
                if failure is not None and not isinstance(failure, WebSocketDisconnect | OSError):
                    logger.error("realtime: a WebSocket stream failed", exc_info=failure)
        finally:
            await events.aclose()
            self.realtime.hub.unsubscribe(subscription)
        await _close(websocket, 1000, "stream ended")

    def socket_caller(self, websocket: WebSocket, token: Any) -> Caller:
        if isinstance(token, str) and token and self.callers is not None:
            return self.callers.for_credential(token)
        # the headers alone, as a GET: cookies are left out (cross-site WebSocket hijacking)
        headers = [(k, v) for k, v in websocket.scope["headers"] if k != b"cookie"]
        scope = {**websocket.scope, "type": "http", "method": "GET", "headers": headers}
        return (self.callers or self.caller_of)(Request(scope))

    async def subscribe(
        self, caller: Caller, params: Mapping[str, str], address: str
    ) -> Subscription:
        unknown = sorted(set(params) - PARAMETERS)
        if unknown:
            raise _bad(f"unknown query parameter '{unknown[0]}' (known: collection, filter, id)")
        collection = params.get("collection", "")
        if collection not in self.store.spec.collections:
            raise _bad(f"collection must name one of the API's collections, not {collection!r}")
        subscription = Subscription(
            caller,
            collection,
            owner_of(caller, address),
            params.get("filter") or None,
            params.get("id") or None,
        )
        try:
            self.store.access.check(collection, "view", caller)
            # The statement is built for this caller and filter once, before any change: an
            # invalid filter is refused here, not on the first change.
            await self.offload.store(self._read, subscription, new_id())
        except InvalidQuery as exc:
            raise _bad(str(exc)) from None
        except Forbidden as exc:
            raise ProblemError(403, "forbidden", str(exc)) from None
        try:
            await self.realtime.start()
        except RealtimeUnavailable as exc:
            raise ProblemError(503, "unavailable", str(exc), headers={"Retry-After": "5"}) from None
        try:
            self.realtime.hub.subscribe(subscription)
        except TooManyStreams as exc:
            raise ProblemError(429, "rate-limited", str(exc)) from None
        return subscription

    async def events(
        self, subscription: Subscription, resume: str | None
    ) -> AsyncIterator[Event | None]:
        """The subscription's events, whatever carries them; None now and then on an idle
        stream (a keep-alive)."""
        broker = self.realtime.broker
        replayed: tuple[int, int] | None = None
        try:
            start = broker.newest()
            yield start, "ready", {"collection": subscription.collection}
            if resume is not None:
                missed = await broker.since(resume)
                if missed is None:
                    yield start, "reset", {"reason": "the changes since then are gone"}
                else:
                    for change in missed:
                        message = await self._message(subscription, change)
                        if message is not None:
                            yield message
                    if missed:  # what was replayed may also be waiting in the queue
                        replayed = position_order(missed[-1].position)
            expires = subscription.caller.expires
            while True:
                wait = KEEP_ALIVE if expires is None else min(KEEP_ALIVE, expires - time.time())
                if wait <= 0:
                    reason = "the credentials expired; reconnect with fresh ones"
                    yield broker.newest(), "error", {"reason": reason}
                    return
                try:
                    change = await asyncio.wait_for(subscription.queue.get(), wait)
                except TimeoutError:
                    yield None
                    continue
                if subscription.dropped:
                    reason = "this stream fell too far behind and was closed; reconnect"
                    yield change.position, "error", {"reason": reason}
                    return
                if replayed is not None and position_order(change.position) <= replayed:
                    continue
                message = await self._message(subscription, change)
                if message is not None:
                    yield message
        finally:
            self.realtime.hub.unsubscribe(subscription)

    async def _message(self, subscription: Subscription, change: Change) -> Event | None:
        """The event this subscriber is owed for `change`, read as it may see the record now."""
        gone = (change.position, "delete", {"action": "delete", "id": change.record_id})
        if change.operation == "delete":
            return gone if subscription.forget(change.record_id) else None
        record = await self._seen_by(subscription, change)
        if record is None:  # never the subscriber's to see, or it has just left its view
            return gone if subscription.forget(change.record_id) else None
        subscription.remember(change.record_id)
        return change.position, change.operation, {"action": change.operation, "record": record}

    async def _seen_by(self, subscription: Subscription, change: Change) -> dict[str, Any] | None:
        """The record as this subscriber sees it, read once for all the streams of one caller
        with one filter (an account with several tabs open, many subscribers of one change)."""
        caller = subscription.caller
        key = (change.position, caller.id, caller.collection, caller.is_admin, caller.scopes)
        key += (change.collection, subscription.filter)
        if key in self._reads:
            return self._reads[key]
        record = await self.offload.store(self._visible, subscription, change.record_id)
        self._reads[key] = record
        if len(self._reads) > READS_KEPT:
            self._reads.popitem(last=False)
        return record

    def _visible(self, subscription: Subscription, record_id: str) -> dict[str, Any] | None:
        try:
            return self._read(subscription, record_id)
        except Forbidden:
            return None

    def _read(self, subscription: Subscription, record_id: str) -> dict[str, Any] | None:
        """The record as the subscriber may see it (view rule, filter, hidden fields), or None."""
        narrowing = Narrowing(("realtime", "by-id"), BY_ID, {RECORD: record_id})
        page = self.store.list(
            subscription.collection,
            subscription.caller,
            ListRequest(filter=subscription.filter, limit=1),
            narrowing=narrowing,
            operation="view",
        )
        return page.items[0] if page.items else None


async def _sse(events: AsyncIterator[Event | None]) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n"
    async for event in events:
        if event is None:
            yield b": keep-alive\n\n"
            continue
        position, name, data = event
        yield b"id: %s\nevent: %s\ndata: %s\n\n" % (
            position.encode(),
            name.encode(),
            orjson.dumps(data),
        )


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code, reason=reason[:120])


def _bad(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-query", detail)
