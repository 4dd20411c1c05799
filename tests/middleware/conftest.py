"""Fixtures of the middleware tests: real `backforge serve` processes, the real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mw_support import ADMIN_TOKEN, DECLARATION, REDIS_URL, Server, services_required


@pytest.fixture
def declaration(tmp_path: Path) -> Path:
    path = tmp_path / "mw.yaml"
    path.write_text(DECLARATION, encoding="utf-8")
    return path


@pytest.fixture
def make_server(declaration: Path) -> Iterator:
    """make_server(**env) starts a server for the test declaration (a shared SQLite file);
    `arguments` are more of `serve`'s (e.g. ["--workers", "2"])."""
    servers: list[Server] = []

    def make(
        declaration_path: Path | None = None, arguments: tuple[str, ...] = (), **env: str
    ) -> Server:
        environment = {**os.environ, "BACKFORGE_ADMIN_TOKEN": ADMIN_TOKEN, **env}
        if "DATABASE_URL" not in env:
            environment.pop("DATABASE_URL", None)
        if "REDIS_URL" not in env:
            environment.pop("REDIS_URL", None)
        server = Server(declaration_path or declaration, environment, list(arguments))
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_url() -> str:
    """The real Redis, or a skip (a failure when BACKFORGE_REQUIRE_SERVICES=1)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if services_required():
            pytest.fail(reason + " and BACKFORGE_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    import redis

    prefix = "bftest-" + uuid.uuid4().hex[:12]
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
