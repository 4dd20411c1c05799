"""RFC 9457 problem+json: every failure the API reports has this shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..auth.errors import AuthError
from ..store.errors import (
    Conflict,
    Forbidden,
    HookFailed,
    InvalidQuery,
    NotFound,
    PreconditionFailed,
    Refused,
    StoreError,
    Unavailable,
    ValidationFailed,
)
from ..store.validation import validation_failed

PROBLEM_TYPE = "urn:backforge:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger("backforge.http")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    429: "Too many requests",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Validation failed",
    428: "Precondition required",
    500: "Internal error",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class ProblemError(Exception):
    """Raised anywhere in the HTTP layer to answer with a problem."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers
        self.extra = extra
        super().__init__(detail)


def problem_response(
    status: int, slug: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": PROBLEM_TYPE + slug,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    return Response(orjson.dumps(body), status, headers, media_type=PROBLEM_CONTENT_TYPE)


def store_problem(error: StoreError) -> tuple[int, str, dict[str, Any]]:
    """The status, problem type and extra members that tell a client of a store error."""
    match error:
        case ValidationFailed(problems=problems):
            errors = [{"path": p.path, "message": p.message} for p in problems]
            return 422, "validation", {"errors": errors}
        case InvalidQuery(parameter=parameter, position=position):
            return 400, "invalid-query", {"parameter": parameter, "position": position}
        case NotFound():
            return 404, "not-found", {}
        case Forbidden():
            return 403, "forbidden", {}
        case Conflict(field=field):
            return 409, "conflict", {"field": field}
        case PreconditionFailed():
            return 412, "precondition-failed", {}
        case Unavailable():
            return 503, "unavailable", {}
        case Refused(status=status, field=field):
            return status, "refused", {"field": field}
        case HookFailed():
            return 500, "hook-failed", {}
    return 400, "bad-request", {}


def from_store_error(error: StoreError) -> Response:
    status, slug, extra = store_problem(error)
    headers = {"Retry-After": "1"} if isinstance(error, Unavailable) else None
    return problem_response(status, slug, error.detail, headers, **extra)


async def handle_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.slug, exc.detail, exc.headers, **exc.extra)


async def handle_auth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    extra = dict(exc.extra)
    retry_after = extra.pop("retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem_response(exc.status, exc.slug, exc.detail, headers, **extra)


async def handle_store_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    return from_store_error(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"nothing at {request.url.path}"
        return problem_response(404, "not-found", detail)
    if exc.status_code == 405:
        return problem_response(
            405, "method-not-allowed", f"{request.method} is not allowed here", exc.headers
        )
    return problem_response(exc.status_code, "http-error", str(exc.detail), exc.headers)


async def handle_pool_timeout(_request: Request, _exc: Exception) -> Response:
    # Every pooled database connection stayed busy for server.database.pool_timeout seconds.
    logger.warning("no database connection came free in time: raise server.database.pool_size?")
    return from_store_error(
        Unavailable("the database is busy; nothing was written, try again shortly")
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The trace goes to the server log only; the client learns nothing about internals.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal", "the server failed to handle this request")


class ResponseInvalid(Exception):
    """A handler's answer that its declared response model refuses: the server's fault."""

    def __init__(self, error: ValidationError):
        # Where and why only: the values themselves may be anyone's data.
        self.problems = [
            f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['type']}"
            for e in error.errors(include_input=False)
        ]
        super().__init__("; ".join(self.problems))


async def handle_response_invalid(_request: Request, exc: Exception) -> Response:
    logger.error("a response did not validate: %s", exc)
    return problem_response(500, "internal", "the response did not validate")


async def handle_validation_error(_request: Request, exc: Exception) -> Response:
    # A handler validating what the client sent with its own model: the client's 422.
    assert isinstance(exc, ValidationError)
    return from_store_error(validation_failed(exc))


# Every exception a request can end in, and who answers it: the app's one table (Starlette's
# handlers, the record router, declared routes and custom endpoints all read it).
HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    ProblemError: handle_problem,
    AuthError: handle_auth_error,
    StoreError: handle_store_error,
    HTTPException: handle_http_exception,
    ResponseInvalid: handle_response_invalid,
    ValidationError: handle_validation_error,
    PoolTimeout: handle_pool_timeout,
    Exception: handle_unexpected,
}


def handler_for(exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    for kind in type(exc).__mro__:
        handler = HANDLERS.get(kind)
        if handler is not None:
            return handler
    return handle_unexpected


async def problem_for(request: Request, exc: Exception) -> Response:
    """The problem answer to any exception, as the app's exception handlers give it."""
    return await handler_for(exc)(request, exc)
