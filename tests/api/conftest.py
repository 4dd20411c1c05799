"""An in-process client for the API of a declaration, on each database (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_client import SyncASGIClient
from backforge import App
from backforge.database import create_database_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def serve(declaration: Path | dict, db_url: str, **options) -> Iterator[httpx.Client]:
    engine = create_database_engine(db_url)
    options.setdefault("admin_token", ADMIN_TOKEN)
    if isinstance(declaration, dict):
        app = App.from_dict(declaration, engine, **options)
    else:
        app = App.from_file(declaration, engine, **options)
    app.store.metadata.create_all(engine)
    try:
        with SyncASGIClient(app) as client:
            yield client
    finally:
        engine.dispose()


@pytest.fixture
def shop(db_url: str) -> Iterator[httpx.Client]:
    yield from serve(EXAMPLES / "shop.yaml", db_url)


@pytest.fixture
def blog(db_url: str) -> Iterator[httpx.Client]:
    yield from serve(EXAMPLES / "blog.yaml", db_url)


@pytest.fixture
def make_client(db_url: str):
    """Serve any declaration (a dict or a path) on this test's database."""
    clients = []

    def make(declaration: Path | dict, **options) -> httpx.Client:
        generator = serve(declaration, db_url, **options)
        clients.append(generator)
        return next(generator)

    yield make
    for generator in clients:
        generator.close()


@pytest.fixture
def make_sqlite_client(sqlite_url: str):
    """`make_client` on SQLite only, for what only SQLite shows (its write lock)."""
    clients = []

    def make(declaration: Path | dict, **options) -> httpx.Client:
        generator = serve(declaration, sqlite_url, **options)
        clients.append(generator)
        return next(generator)

    yield make
    for generator in clients:
        generator.close()


@pytest.fixture
def admin() -> dict[str, str]:
    return dict(ADMIN)
