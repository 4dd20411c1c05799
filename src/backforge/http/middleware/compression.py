"""gzip for clients that ask for it; the others pay nothing (Starlette's GZipMiddleware wraps
every response in a responder object even when the client does not accept gzip)."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware

from ...spec.server import Compression


class CompressionMiddleware:
    def __init__(self, app, settings: Compression):
        self.app = app
        self.gzip = GZipMiddleware(
            app, minimum_size=settings.minimum_size, compresslevel=settings.level
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"accept-encoding" and b"gzip" in value:
                    await self.gzip(scope, receive, send)
                    return
        await self.app(scope, receive, send)
