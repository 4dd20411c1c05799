"""Custom endpoints declared in Python: any path, typed request and response models, the same
auth, limits and problem errors as generated routes — or the error shape of an existing contract."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.bound import BoundStore
from ..store.caller import Caller
from ..store.hooks import SYSTEM
from ..store.records import RecordStore
from ..store.validation import validation_failed
from .body import read_json_body
from .problems import ProblemError, problem_for

# (status, problem as a dict) -> (status, body to send as JSON)
ErrorFormatter = Callable[[int, dict[str, Any]], tuple[int, Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Callable[..., Any]
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    summary: str | None
    error_formatter: ErrorFormatter | None
    requires_login: bool


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
        method: str,
        path: str,
        *,
        request: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        summary: str | None = None,
        error_formatter: ErrorFormatter | None = None,
        requires_login: bool = False,
    ):
        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(
                Endpoint(
                    method.upper(),
                    path,
                    handler,
                    request,
                    response,
                    status,
                    summary or (handler.__doc__ or "").strip().split("\n")[0],
                    error_formatter,
                    requires_login,
                )
            )
            return handler

        return decorator

    def get(self, path: str, **options: Any):
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any):
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any):
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any):
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any):
        return self.route("DELETE", path, **options)


class EndpointContext:
    """What a custom endpoint's handler receives."""

    def __init__(self, request: Request, caller: Caller, body: Any, store: RecordStore, auth: Any):
        self.request = request
        self.caller = caller
        self.body = body
        self.path_params = request.path_params
        self.query = request.query_params
        # The client's IP (what the server was told: see server.forwarded_allow_ips).
        self.client_address = request.client.host if request.client else None
        self.store = BoundStore(store, caller)
        self.system = BoundStore(store, SYSTEM)
        # The auth service (hash/verify passwords, log in, refresh, verify tokens), when the
        # declaration has an auth collection; its logins count failures per this client.
        self.auth = None if auth is None else RequestAuth(auth, self.client_address)


class RequestAuth:
    """The auth service for one request: `login` throttles per the request's client address,
    as the /api/auth routes do; everything else is the service's own."""

    def __init__(self, service: Any, address: str | None):
        self._service = service
        self._address = address

    def login(
        self,
        collection: str,
        identity: str,
        password: str,
        totp: str | None = None,
        address: str | None = None,
    ) -> Any:
        return self._service.login(collection, identity, password, totp, address or self._address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)


def custom_routes(
    endpoints: Endpoints,
    store: RecordStore,
    caller_of: Callable[[Request], Caller],
    auth: Any,
    max_body: int,
    default_formatter: ErrorFormatter | None = None,
) -> list[Route]:
    """`default_formatter`: the declaration's error shape, for endpoints that set none."""
    inline = store.engine.dialect.name == "sqlite"

    def make(endpoint: Endpoint):
        formatter = endpoint.error_formatter or endpoints.error_formatter or default_formatter

        async def serve(request: Request) -> Response:
            try:
                return await _serve(request, endpoint)
            except Exception as exc:  # every failure keeps the endpoint's error shape
                response = await problem_for(request, exc)
                if formatter is None:
                    return response
                status, body = formatter(response.status_code, orjson.loads(response.body))
                return Response(orjson.dumps(body), status, media_type="application/json")

        async def _serve(request: Request, endpoint: Endpoint) -> Response:
            caller = caller_of(request)
            if endpoint.requires_login and caller.is_anonymous:
                raise ProblemError(401, "unauthorized", "log in first")
            body = None
            if endpoint.request is not None:
                raw = await read_json_body(request, max_body)
                try:
                    body = endpoint.request.model_validate_json(raw)
                except ValidationError as exc:
                    raise validation_failed(exc) from None
            context = EndpointContext(request, caller, body, store, auth)

            def run() -> Any:
                with store.transaction():
                    result = endpoint.handler(context)
                    if inspect.isawaitable(result):
                        raise TypeError("async handlers are not supported inside a transaction")
                    return result

            result = run() if inline else await anyio.to_thread.run_sync(run)
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):
                result = result.model_dump(mode="json")
            elif endpoint.response is not None:
                result = endpoint.response.model_validate(result).model_dump(mode="json")
            if endpoint.status == 204:
                return Response(status_code=204)
            return Response(orjson.dumps(result), endpoint.status, media_type="application/json")

        return serve

    return [Route(e.path, make(e), methods=[e.method]) for e in endpoints.routes]
