"""Request ids, one structured log line, the metrics and the security headers of every
request."""

from __future__ import annotations

import logging
import random
import re
import time

from .context import CALLER_KEY, REQUEST_ID_KEY, RESPONSE_HEADERS_KEY, route_path
from .metrics import Metrics
from .problems import send_problem
from .security_headers import SecurityHeaderSet

logger = logging.getLogger("backforge.http")

# An incoming X-Request-ID is kept only when it is short and plain (it ends up in logs).
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestObserver:
    """Outermost layer: sees every answer, including those of the other layers, and adds the
    headers every answer carries (request id, security headers, those the layers inside put in
    the scope under RESPONSE_HEADERS_KEY) in its one wrapper of `send`."""

    def __init__(
        self,
        app,
        metrics: Metrics | None,
        access_log,
        route_of,
        security_headers: SecurityHeaderSet | None = None,
    ):
        self.app = app
        self.metrics = metrics
        self.log = access_log  # has .info(event, **fields); None for no access lines
        self.route_of = route_of
        self.security_headers = security_headers

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for key, value in scope["headers"]:
            if key == b"x-request-id" and _VALID_REQUEST_ID.match(value):
                request_id = value
        if request_id is None:
            # Unique, not secret: no system call per request (os.urandom made one).
            request_id = b"%024x" % random.getrandbits(96)
        scope[REQUEST_ID_KEY] = request_id
        added = scope[RESPONSE_HEADERS_KEY] = []
        status = 500
        metrics = self.metrics
        security_headers = self.security_headers
        responded = False

        async def send_with_id(message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                headers = [h for h in message.get("headers", ()) if h[0] != b"server"]
                if security_headers is not None:
                    security_headers.add_to(headers, scope)
                headers += added
                headers.append((b"x-request-id", request_id))
                message["headers"] = headers
            await send(message)

        if metrics is not None:
            metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if responded:
                raise
            # A failure outside the routes' own handlers still answers a problem, not a trace.
            logger.exception("unhandled error in the middleware stack")
            await send_problem(send_with_id, 500, "internal", "the server failed this request")
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            route = self.route_of(scope)
            if metrics is not None:
                metrics.in_flight -= 1
                metrics.observe(method, route, status, seconds)
            if self.log is not None:
                caller = scope.get(CALLER_KEY)
                client = scope.get("client")
                self.log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 3),
                    caller=caller.id if caller is not None else None,
                    client=client[0] if client else None,
                    request_id=request_id.decode(),
                )


def route_resolver(app):
    """The route template of a request (`/api/posts/{id}`), never the raw path, so that metric
    labels stay few and no id or token from a URL reaches a log."""
    router = getattr(app, "router", None)
    routes = list(getattr(router, "routes", ()))
    fixed = {"/healthz": "/healthz", "/readyz": "/readyz", "/metrics": "/metrics"}

    def route_of(scope) -> str:
        route = scope.get("route")
        if route is not None:
            return getattr(route, "path", "unmatched")
        path = route_path(scope)
        if path in fixed:
            return fixed[path]
        # Answered before routing (429, 413, ...): find the template the router would pick.
        for candidate in routes:
            regex = getattr(candidate, "path_regex", None)
            if regex is not None and regex.match(path):
                return candidate.path
        return "unmatched"

    return route_of
