"""ETag on every successful GET, 304 for a matching If-None-Match, and a Cache-Control that
keeps answers given to a caller with credentials out of shared caches."""

from __future__ import annotations

import hashlib

from ...spec.server import Cache
from .context import route_path
from .public_reads import PublicReads

# A 304 carries what a cache must update; a route's own policy (the docs page's CSP) too, or the
# default policy would be stored over it and block the page's scripts.
_KEPT_ON_304 = frozenset({b"etag", b"cache-control", b"vary", b"content-security-policy"})


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 13.1.2): W/"x" matches "x"; * matches anything."""
    if if_none_match.strip() == b"*":
        return True
    opaque = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == opaque for tag in if_none_match.split(b","))


class ConditionalGetMiddleware:
    def __init__(self, app, settings: Cache, public: PublicReads):
        self.app = app
        self.public = public
        self.etag = settings.etag
        shared = f"public, max-age={settings.max_age}" if settings.max_age else "public, no-cache"
        self.shared = (b"cache-control", shared.encode())
        self.private = (b"cache-control", b"private, no-cache")
        self.anonymous = (b"cache-control", b"no-cache")
        self.vary = (b"vary", b"Authorization, Cookie")

    async def __call__(self, scope, receive, send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or (method != "GET" and method != "HEAD"):
            await self.app(scope, receive, send)
            return
        if self.public.carries_credentials(scope):
            cache_control = self.private
        elif self.public.collection(route_path(scope)) is not None:
            cache_control = self.shared
        else:
            cache_control = self.anonymous
        if_none_match = None
        for key, value in scope["headers"]:
            if key == b"if-none-match":
                if_none_match = value
        compute = self.etag and method == "GET"
        held = None
        passing = False
        answered = False  # a 304 went out instead: the route's body is dropped

        async def not_modified(headers) -> None:
            kept = [(n, v) for n, v in headers if n in _KEPT_ON_304]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})

        async def send_conditional(message) -> None:
            nonlocal held, passing, answered
            if passing:
                await send(message)
                return
            if answered:
                return
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name for name, _ in headers}
                if b"cache-control" not in names:
                    headers.append(cache_control)
                if b"vary" not in names:
                    headers.append(self.vary)
                message["headers"] = headers
                if message["status"] == 200 and compute:
                    if b"etag" not in names:  # made from the body, once it is here
                        held = message
                        return
                    # The route's own ETag (a record's version) decides at once.
                    etag = next(value for name, value in headers if name == b"etag")
                    if if_none_match is not None and etag_matches(if_none_match, etag):
                        answered = True
                        await not_modified(headers)
                        return
                passing = True
                await send(message)
                return
            if held is None or message.get("more_body", False):
                # A streamed body: sent as it comes, without an ETag.
                passing = True
                if held is not None:
                    await send(held)
                await send(message)
                return
            body = message.get("body", b"")
            headers = held["headers"]
            # Weak: gzip (outside this layer) may send the same content in another encoding.
            # sha256 runs in hardware here: half the time of blake2b on a page of records.
            etag = b'W/"' + hashlib.sha256(body).hexdigest()[:24].encode() + b'"'
            headers.append((b"etag", etag))
            if if_none_match is not None and etag_matches(if_none_match, etag):
                await not_modified(headers)
                return
            await send(held)
            await send(message)

        await self.app(scope, receive, send_conditional)
