"""GraphQL over a WebSocket at `/graphql`, in the `graphql-transport-ws` protocol (the
`graphql-ws` library's, which GraphiQL, Apollo and urql speak): subscriptions to a
collection's changes, and queries and mutations too.

    → {"type": "connection_init", "payload": {"Authorization": "Bearer …"}}
    ← {"type": "connection_ack"}
    → {"type": "subscribe", "id": "1", "payload": {"query": "subscription { posts_changes
         { event position record { title author { name } } } }"}}
    ← {"type": "next", "id": "1", "payload": {"data": {"posts_changes": {…}}}}   (each event)
    → {"type": "complete", "id": "1"}

A subscription is a realtime stream (`realtime.stream`): each change read back as the
subscriber, under the same rules, limits and resume (`last_event_id`). Credentials come from
`connection_init`'s payload (`Authorization`, `token`) or the upgrade's headers, never its
cookies (a browser sends them for any site's page)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..http.problems import ProblemError
from ..realtime.stream import RealtimeStream
from ..store.caller import Caller
from .endpoint import GraphQLEndpoint

if TYPE_CHECKING:
    from .service import Prepared

logger = logging.getLogger("backforge.graphql")
PROTOCOL = "graphql-transport-ws"
INIT_WITHIN = 10.0  # seconds a client has to send connection_init
MAX_OPERATIONS = 20  # running at once on one socket (the realtime limit per caller holds too)


class GraphQLSocket:
    def __init__(self, endpoint: GraphQLEndpoint, stream: RealtimeStream):
        self.endpoint = endpoint
        self.stream = stream

    async def handle(self, websocket: WebSocket) -> None:
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.close(code=1002, reason=f"speak the {PROTOCOL} subprotocol")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        try:
            init = await asyncio.wait_for(websocket.receive_json(), INIT_WITHIN)
        except TimeoutError:
            await _close(websocket, 4408, "Connection initialisation timeout")
            return
        except (ValueError, WebSocketDisconnect):
            await _close(websocket, 4400, "send connection_init first")
            return
        if not isinstance(init, dict) or init.get("type") != "connection_init":
            await _close(websocket, 4400, "send connection_init first")
            return
        token = _token(init.get("payload"))
        try:
            self.stream.socket_caller(websocket, token)  # refused now rather than later
        except ProblemError as problem:
            await _close(websocket, 4403, problem.detail)
            return
        await websocket.send_json({"type": "connection_ack"})
        running: dict[str, asyncio.Task] = {}
        started: set[asyncio.Task] = set()  # every task, until it ends: all cancelled on close
        try:
            await self._serve(websocket, token, running, started)
        except (WebSocketDisconnect, ValueError):
            pass
        finally:
            for task in started:
                task.cancel()
            await asyncio.gather(*started, return_exceptions=True)

    async def _serve(
        self,
        websocket: WebSocket,
        token: str | None,
        running: dict[str, asyncio.Task],
        started: set[asyncio.Task],
    ) -> None:
        while True:
            message = await websocket.receive_json()
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "ping":
                await websocket.send_json({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "subscribe" and isinstance(message.get("id"), str):
                key = message["id"]
                if key in running:
                    await _close(websocket, 4409, f"Subscriber for {key[:40]} already exists")
                    return
                if len(started) >= MAX_OPERATIONS:
                    await _close(websocket, 4429, "too many operations on one socket")
                    return
                # The credentials again, each time: a token expires, an API key is revoked.
                try:
                    caller = self.stream.socket_caller(websocket, token)
                except ProblemError as problem:
                    await _close(websocket, 4403, problem.detail)
                    return
                task = asyncio.ensure_future(
                    self._operation(websocket, caller, key, message.get("payload"))
                )
                running[key] = task
                started.add(task)
                task.add_done_callback(lambda done, key=key: _forget(running, started, key, done))
            elif kind == "complete" and isinstance(message.get("id"), str):
                task = running.pop(message["id"], None)
                if task is not None:
                    task.cancel()
            else:
                await _close(websocket, 4400, "unknown message")
                return

    async def _operation(
        self, websocket: WebSocket, caller: Caller, key: str, payload: Any
    ) -> None:
        try:
            await self._run(websocket, caller, key, payload)
        except (WebSocketDisconnect, OSError, asyncio.CancelledError):
            raise
        except ProblemError as problem:
            error = {"message": problem.detail, "extensions": {"code": problem.slug}}
            error["extensions"]["status"] = problem.status
            await websocket.send_json({"type": "error", "id": key, "payload": [error]})
        except Exception:
            logger.exception("graphql: an operation over the WebSocket failed")
            error = {"message": "internal error", "extensions": {"code": "internal"}}
            await websocket.send_json({"type": "error", "id": key, "payload": [error]})

    async def _run(self, websocket: WebSocket, caller: Caller, key: str, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ProblemError(400, "invalid-query", "payload must hold a query")
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise ProblemError(400, "invalid-query", "variables must be an object")
        from .answers import Answer  # graphql-core: imported once GraphQL is asked for

        service = self.endpoint.service
        run = self.endpoint.offload.store
        prepared = await run(
            service.prepare,
            payload["query"],
            variables,
            payload.get("operationName") or None,
            subscriptions=True,
        )
        if isinstance(prepared, Answer):
            errors = prepared.body["errors"]
            await websocket.send_json({"type": "error", "id": key, "payload": errors})
            return
        if prepared.operation.operation.value != "subscription":
            answer = await run(service.run, caller, prepared)
            await websocket.send_json({"type": "next", "id": key, "payload": answer.body})
        else:
            await self._subscription(websocket, caller, key, prepared)
        await websocket.send_json({"type": "complete", "id": key})

    async def _subscription(
        self, websocket: WebSocket, caller: Caller, key: str, prepared: Prepared
    ) -> None:
        service = self.endpoint.service
        params, resume = service.subscribed(prepared)
        address = websocket.client.host if websocket.client else ""
        subscription = await self.stream.subscribe(caller, params, address)
        events = self.stream.events(subscription, resume)
        try:
            async for event in events:
                if event is None:
                    continue  # an idle stream: the client pings if it wants to
                position, name, data = event
                record = data.get("record")
                root = {
                    "event": name,
                    "position": position,
                    "id": data.get("id") or (record or {}).get("id"),
                    "record": record,
                    "reason": data.get("reason"),
                }
                answer = await self.endpoint.offload.store(service.run, caller, prepared, root)
                await websocket.send_json({"type": "next", "id": key, "payload": answer.body})
                if name == "error":
                    return
        finally:
            await events.aclose()
            self.stream.realtime.hub.unsubscribe(subscription)


def _forget(
    running: dict[str, asyncio.Task], started: set[asyncio.Task], key: str, task: asyncio.Task
) -> None:
    """A finished task leaves; the id is free again only if it is still this task's (a
    completed id may already name a new operation)."""
    started.discard(task)
    if running.get(key) is task:
        del running[key]


def _token(payload: Any) -> str | None:
    """The credential connection_init carries: a bare `token`, or an Authorization value."""
    if not isinstance(payload, dict):
        return None
    token = payload.get("token")
    if isinstance(token, str) and token:
        return token
    for name in ("Authorization", "authorization"):
        value = payload.get(name)
        if isinstance(value, str) and " " in value:
            return value.split(" ", 1)[1]
    return None


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code, reason=reason[:120])
