"""An in-process client for a declaration with a hooks module, on each database."""

from __future__ import annotations

import httpx
import pytest

from backforge import App
from backforge.database import create_database_engine


@pytest.fixture
def make_contract_client(db_url, monkeypatch):
    monkeypatch.setenv("BACKFORGE_JWT_SECRET", "contract-test-secret-" + "x" * 32)
    engines = []

    def make(path):
        engine = create_database_engine(db_url)
        engines.append(engine)
        app = App.from_file(path, engine)
        app.store.metadata.create_all(engine)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return _Client(transport)

    yield make
    for engine in engines:
        engine.dispose()


class _Client:
    def __init__(self, transport):
        import anyio

        self._anyio = anyio
        self._client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def request(self, method, url, **kwargs):
        async def call():
            return await self._client.request(method, url, **kwargs)

        return self._anyio.run(call)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)
