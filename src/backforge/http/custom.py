"""Custom endpoints declared in Python: any path, async or sync handlers, bodies of any kind
and answers of any kind, the same auth, limits and problem errors as generated routes — or the
error shape of an existing contract.

A sync handler runs in one write transaction (all or nothing), or, when the endpoint only reads
(GET and HEAD unless said otherwise, or `read_only=True`), without one: it takes no write lock
and each write it makes commits on its own. An async handler runs on the event loop with no
transaction of its own; `await ctx.atomic(fn)` runs a plain function in one.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.caller import Caller
from ..store.records import RecordStore
from .endpoint_context import EndpointContext, RequestAuth, Templates
from .endpoint_io import BODY_KINDS, BodyKind, answer, read_body
from .error_shapes import shaped
from .offload import Offload
from .problems import ProblemError, problem_for

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Handler = Callable[[EndpointContext], Any]
__all__ = ["EndpointContext", "Endpoints", "RequestAuth"]

# (status, problem as a dict) -> (status, body to send as JSON)
ErrorFormatter = Callable[[int, dict[str, Any]], tuple[int, Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    summary: str | None
    error_formatter: ErrorFormatter | None
    requires_login: bool
    # How the body is read: json (the default with a request model), form, multipart, text,
    # bytes; None: not read.
    body: BodyKind | None = None
    # No write transaction around a sync handler (GET and HEAD by default).
    read_only: bool = False
    # Seconds the handler may take; then 504, and a sync handler's transaction rolls back.
    timeout: float | None = None

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.handler)


@dataclass
class Endpoints:
    """A registry a hooks module fills:

    endpoints = Endpoints()

    @endpoints.post("/v1/orders/{id}/cancel", request=CancelIn, response=OrderOut)
    def cancel(ctx): ...
    """

    error_formatter: ErrorFormatter | None = None
    routes: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: Method,
        path: str,
        *,
        request: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        summary: str | None = None,
        error_formatter: ErrorFormatter | None = None,
        requires_login: bool = False,
        body: BodyKind | None = None,
        read_only: bool | None = None,
        timeout: float | None = None,
    ) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            verb = method.upper()
            self.routes.append(
                Endpoint(
                    verb,
                    path,
                    handler,
                    request,
                    response,
                    status,
                    summary or (handler.__doc__ or "").strip().split("\n")[0],
                    error_formatter,
                    requires_login,
                    body or ("json" if request is not None else None),
                    verb in ("GET", "HEAD") if read_only is None else read_only,
                    timeout,
                )
            )
            return handler

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


def check_endpoints(endpoints: Endpoints) -> list[str]:
    """What cannot work, said at start-up rather than on the first request."""
    problems = []
    for endpoint in endpoints.routes:
        where = f"{endpoint.method} {endpoint.path} ({getattr(endpoint.handler, '__name__', '?')})"
        if not callable(endpoint.handler) or inspect.isasyncgenfunction(endpoint.handler):
            problems.append(f"{where}: a handler is a function or an async function")
        if endpoint.body is not None and endpoint.body not in BODY_KINDS:
            problems.append(f"{where}: body is one of {', '.join(BODY_KINDS)}")
        if endpoint.body in ("text", "bytes") and endpoint.request is not None:
            problems.append(f"{where}: a {endpoint.body} body has no model; drop request=")
        if endpoint.timeout is not None and endpoint.timeout <= 0:
            problems.append(f"{where}: timeout is a number of seconds above 0")
    return problems


class _Late(Exception):
    """A sync handler finished after its time limit: its transaction is rolled back."""


class _Deadline:
    """Which comes first for a timed sync handler: its commit or its time limit. Decided once,
    under a lock, so that a 504 is never sent for a write that stays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: str | None = None

    def _decide(self, outcome: str) -> bool:
        with self._lock:
            self._first = self._first or outcome
            return self._first == outcome

    def commit(self) -> bool:
        return self._decide("commit")

    def expire(self) -> bool:
        return self._decide("late")


def _retrieved(work: asyncio.Future) -> None:
    """Nobody awaits a handler past its limit: its outcome (_Late) is expected."""
    if not work.cancelled():
        work.exception()


def custom_routes(
    endpoints: Endpoints,
    store: RecordStore,
    caller_of: Callable[[Request], Caller],
    auth: Any,
    max_body: int,
    default_formatter: ErrorFormatter | None = None,
    templates_folder: Path | None = None,
) -> list[Route]:
    """`default_formatter`: the declaration's error shape, for endpoints that set none;
    `templates_folder`: where ctx.render finds templates."""
    offload = Offload(store)
    templates = Templates(templates_folder) if templates_folder is not None else None

    async def atomic(work: Callable[[EndpointContext], Any], context: EndpointContext) -> Any:
        def run() -> Any:
            with store.transaction():
                return work(context)

        return await offload.run(run)

    async def execute(endpoint: Endpoint, context: EndpointContext) -> Any:
        limit = endpoint.timeout
        if endpoint.is_async:
            if limit is None:
                return await endpoint.handler(context)
            try:
                async with asyncio.timeout(limit) as scope:
                    return await endpoint.handler(context)
            except TimeoutError:
                if scope.expired():  # not a TimeoutError the handler raised itself
                    raise _timed_out(limit) from None
                raise
        deadline = _Deadline()

        def run() -> Any:
            if endpoint.read_only:
                return endpoint.handler(context)
            with store.transaction():
                result = endpoint.handler(context)
                if inspect.isawaitable(result):
                    raise TypeError("the handler returned an awaitable: declare it async def")
                if limit is not None and not deadline.commit():
                    raise _Late  # the client was told it failed: nothing may stay written
                return result

        if limit is None:
            return await offload.run(run)
        work = asyncio.ensure_future(anyio.to_thread.run_sync(run, abandon_on_cancel=True))
        done, _pending = await asyncio.wait({work}, timeout=limit)
        if not done and deadline.expire():
            work.add_done_callback(_retrieved)
            raise _timed_out(limit)
        return await work  # done, or committing already: its answer stands

    def make(endpoint: Endpoint):
        formatter = endpoint.error_formatter or endpoints.error_formatter or default_formatter

        async def serve(request: Request) -> Response:
            try:
                return await _serve(request, endpoint)
            except Exception as exc:  # every failure keeps the endpoint's error shape
                response = await problem_for(request, exc)
                return response if formatter is None else shaped(response, formatter)

        async def _serve(request: Request, endpoint: Endpoint) -> Response:
            caller = caller_of(request)
            if endpoint.requires_login and caller.is_anonymous:
                raise ProblemError(401, "unauthorized", "log in first")
            body = await read_body(request, endpoint.body, endpoint.request, max_body)
            try:
                context = EndpointContext(request, caller, body, store, auth, templates, atomic)
                result = await execute(endpoint, context)
                return answer(result, endpoint.status, endpoint.response)
            finally:
                await body.close()

        return serve

    return [Route(e.path, make(e), methods=[e.method]) for e in endpoints.routes]


def _timed_out(limit: float) -> ProblemError:
    return ProblemError(504, "timeout", f"the endpoint did not finish within {limit:g} seconds")
