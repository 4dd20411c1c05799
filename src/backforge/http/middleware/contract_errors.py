"""Refusals of the middleware (a rate limit, a body or query string over its limit, a timeout)
on the paths of declared routes, in the declared error shape: a client of the contract sees one
error format, whichever layer answered. The routes shape their own failures (and say so in the
scope); here only the other problem+json answers of those routes are rewritten."""

from __future__ import annotations

from re import Pattern

import orjson
from starlette.routing import compile_path

from ...spec.model import Spec
from ...spec.routes import error_shape, split_route_key
from ..error_shapes import SHAPED, ErrorFormat
from .context import route_path

PROBLEM = b"application/problem+json"


class ContractErrors:
    def __init__(self, app, spec: Spec):
        self.app = app
        # Each declared route's error shape, by method and path; paths with parameters are
        # tried in order after the literal ones, as the router does.
        self.static: dict[tuple[str, str], ErrorFormat] = {}
        self.patterns: list[tuple[str, Pattern[str], ErrorFormat]] = []
        for key, route in spec.routes.items():
            shape = error_shape(spec.errors, route.errors)
            parsed = split_route_key(key)
            if shape is None or parsed is None:
                continue
            method, path = parsed
            format_ = ErrorFormat(shape)
            if "{" in path:
                self.patterns.append((method, compile_path(path)[0], format_))
            else:
                self.static[(method, path)] = format_

    def _format(self, method: str, path: str) -> ErrorFormat | None:
        found = self.static.get((method, path))
        if found is not None:
            return found
        return next(
            (f for m, pattern, f in self.patterns if m == method and pattern.match(path)), None
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held = None

        async def shaped(message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                refused = any(k == b"content-type" and v.startswith(PROBLEM) for k, v in headers)
                if refused and not scope.get(SHAPED):  # not one its route shaped already
                    # Only now, on a refusal, is the route's shape looked up.
                    format_ = self._format(scope["method"], route_path(scope))
                    if format_ is not None:
                        held = (message, format_)  # rewritten once its body is here
                        return
                await send(message)
                return
            if held is None:
                await send(message)
                return
            start, format_ = held
            status, body = format_(start["status"], orjson.loads(message.get("body", b"")))
            content = orjson.dumps(body)
            media = PROBLEM if format_.shape.body is None else b"application/json"
            headers = [
                (k, v) for k, v in start["headers"] if k not in (b"content-type", b"content-length")
            ]
            headers += [(b"content-type", media), (b"content-length", str(len(content)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, shaped)
