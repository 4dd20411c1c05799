"""Request limits: query string length, body size, JSON nesting depth, time to send the body.

Each broken limit is a problem response sent before the routes run (414, 413, 400, 408);
the body is read here once, checked, and replayed to the app. Multipart bodies (uploads) are
the exception: they stream through to the route, which limits their size as they arrive
(`body.limited`), each message of them due within the request timeout and the whole arriving
at MIN_STREAM_RATE on average once that timeout has passed.
"""

from __future__ import annotations

import asyncio
import re
import time

from ...spec.server import Limits
from ..problems import ProblemError
from .problems import send_problem

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A JSON string (with escapes) or one bracket; strings are skipped so "[[[" inside them is text.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")
# Bytes a second a streamed (multipart) body must average once its first timeout has passed.
MIN_STREAM_RATE = 32 * 1024


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether any value in `body` is nested deeper than `max_depth` arrays/objects."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False  # cannot be deeper than the number of brackets
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if len(token) == 1:
            if token[0] in _OPENING:
                depth += 1
                if depth > max_depth:
                    return True
            else:
                depth -= 1
    return False


class RequestLimitsMiddleware:
    def __init__(self, app, settings: Limits, max_body_bytes: int):
        self.app = app
        self.max_query = settings.max_query_length
        self.max_depth = settings.max_json_depth
        self.max_body = settings.max_body_bytes or max_body_bytes
        self.timeout = settings.request_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["query_string"]) > self.max_query:
            await send_problem(
                send,
                414,
                "uri-too-long",
                f"the query string is longer than {self.max_query} characters",
                title="URI too long",
            )
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = None
        is_json = False
        streamed = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value
            elif key == b"content-type":
                media = value.split(b";", 1)[0].strip().lower()
                is_json = media == b"application/json" or media.endswith(b"+json")
                streamed = media == b"multipart/form-data"
        if streamed:
            await self.app(scope, self._timed(receive), send)
            return
        # bytes.isdigit() is ASCII only; a length too long for int() is larger than any limit.
        if (
            declared is not None
            and declared.isdigit()
            and (len(declared) > 18 or int(declared) > self.max_body)
        ):
            await self._too_large(send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await send_problem(
                send,
                408,
                "request-timeout",
                f"the request body did not arrive within {self.timeout:g} seconds",
                title="Request timeout",
                headers={"Connection": "close"},
            )
            return
        except _TooLarge:
            await self._too_large(send)
            return
        except _Disconnected:
            return
        if is_json and json_depth_exceeds(body, self.max_depth):
            await send_problem(
                send,
                400,
                "too-deep",
                f"the JSON body is nested deeper than {self.max_depth} levels",
                title="Bad request",
            )
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    def _timed(self, receive):
        """`receive` for a streamed body: each message due within the request timeout, and
        the whole body at an average of MIN_STREAM_RATE past the first timeout (a client
        trickling a byte just in time cannot hold the connection for ever)."""
        timeout = self.timeout
        started = time.monotonic()
        received = 0
        complete = False

        async def timed():
            nonlocal received, complete
            if complete:  # after the body: waiting for the disconnect is not limited
                return await receive()
            left = timeout + received / MIN_STREAM_RATE - (time.monotonic() - started)
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(min(timeout, left)):
                    message = await receive()
            except TimeoutError:
                message = "the request body arrives too slowly (or stalled)"
                raise ProblemError(408, "request-timeout", message) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            return message

        return timed

    async def _read(self, receive) -> bytes:
        chunks = []
        size = 0
        limit = self.max_body
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _too_large(self, send) -> None:
        await send_problem(
            send,
            413,
            "too-large",
            f"the body is larger than {self.max_body} bytes",
            headers={"Connection": "close"},
        )


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass
