"""A synchronous httpx client for an ASGI app, for tests (httpx's ASGI transport is async only,
and Starlette's TestClient over httpx is deprecated)."""

from __future__ import annotations

import anyio
import httpx


class SyncASGIClient(httpx.Client):
    """Each request runs in a private event loop, through httpx.ASGITransport: the app sees a
    real ASGI conversation, and a failure inside it answers 500 as a server would."""

    def __init__(self, app, base_url: str = "http://test", raise_app_exceptions: bool = False):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        self._async = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.app = app
        super().__init__(base_url=base_url)

    def request(self, method, url, **kwargs):  # type: ignore[override]
        async def call():
            return await self._async.request(method, url, **kwargs)

        return anyio.run(call)
