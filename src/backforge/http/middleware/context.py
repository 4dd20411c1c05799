"""What the middleware layers share about one request, kept in its ASGI scope."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from ...store.caller import ANONYMOUS, Caller

CALLER_KEY = "backforge.caller"
REQUEST_ID_KEY = "backforge.request_id"
# Headers a layer wants on this request's response (a list of (name, value) bytes pairs); the
# outermost layer adds them: one wrapper of `send` for the whole stack instead of one per layer.
RESPONSE_HEADERS_KEY = "backforge.response_headers"


def remembered(caller_of: Callable[[Request], Caller]) -> Callable[[Request], Caller]:
    """`caller_of` computed at most once per request: the rate limiter, the routes and the
    access log all ask, and a token check is the costly part."""
    if getattr(caller_of, "remembers", False):
        return caller_of

    def caller(request: Request) -> Caller:
        scope = request.scope
        found = scope.get(CALLER_KEY)
        if found is None:
            found = scope[CALLER_KEY] = caller_of(request)
        return found

    caller.__wrapped__ = caller_of  # type: ignore[attr-defined]
    caller.remembers = True  # type: ignore[attr-defined]
    return caller


def caller_or_anonymous(caller_of: Callable[[Request], Caller] | None, scope) -> Caller:
    """The caller, or anonymous when credentials are missing or invalid (the route will say)."""
    found = scope.get(CALLER_KEY)
    if found is not None or caller_of is None:
        return found or ANONYMOUS
    try:
        found = scope[CALLER_KEY] = caller_of(Request(scope))
    except Exception:
        return ANONYMOUS
    return found


def client_ip(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def header(scope, name: bytes) -> bytes | None:
    """One request header (lower-case `name`); the last one wins."""
    value = None
    for key, found in scope["headers"]:
        if key == name:
            value = found
    return value


def route_path(scope) -> str:
    """The path below where the app is mounted (Starlette keeps the full path in `path`)."""
    path = scope["path"]
    root = scope.get("root_path")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
