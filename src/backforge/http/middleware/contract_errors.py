"""Refusals of the middleware (a rate limit, a body or query string over its limit, a timeout)
on the paths of declared routes, in the declared error shape: a client of the contract sees one
error format, whichever layer answered. The routes shape their own failures; here only
problem+json answers of those paths are rewritten."""

from __future__ import annotations

import orjson
from starlette.routing import compile_path

from ...spec.model import Spec
from ...spec.routes import error_shape, split_route_key
from ..error_shapes import ErrorFormat
from .context import route_path

PROBLEM = b"application/problem+json"


class ContractErrors:
    def __init__(self, app, spec: Spec):
        self.app = app
        self.static: dict[str, ErrorFormat] = {}
        self.patterns: list = []
        for key, route in spec.routes.items():
            shape = error_shape(spec.errors, route.errors)
            parsed = split_route_key(key)
            if shape is None or shape.body is None or parsed is None:
                continue
            path = parsed[1]
            format_ = ErrorFormat(shape)
            if "{" in path:
                self.patterns.append((compile_path(path)[0], format_))
            else:
                self.static.setdefault(path, format_)

    def _format(self, path: str) -> ErrorFormat | None:
        found = self.static.get(path)
        if found is not None:
            return found
        return next((f for pattern, f in self.patterns if pattern.match(path)), None)

    async def __call__(self, scope, receive, send) -> None:
        format_ = self._format(route_path(scope)) if scope["type"] == "http" else None
        if format_ is None:
            await self.app(scope, receive, send)
            return
        held = None

        async def shaped(message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if any(k == b"content-type" and v.startswith(PROBLEM) for k, v in headers):
                    held = message  # rewritten once its body is here
                    return
                await send(message)
                return
            if held is None:
                await send(message)
                return
            status, body = format_(held["status"], orjson.loads(message.get("body", b"")))
            content = orjson.dumps(body)
            headers = [
                (k, v) for k, v in held["headers"] if k not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, shaped)
