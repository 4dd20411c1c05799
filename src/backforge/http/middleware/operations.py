"""/healthz (the process), /readyz (database and Redis reachable) and /metrics (Prometheus,
for admins or the metrics token). Answered before rate limits and caches."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import anyio
import anyio.to_thread
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

from .context import caller_or_anonymous, route_path
from .metrics import Metrics
from .problems import send_problem

CHECK_TIMEOUT = 3.0


class OperationsMiddleware:
    def __init__(
        self,
        app,
        engine: Engine,
        redis_url: str | None,
        metrics: Metrics | None,
        metrics_token: str | None,
        caller_of: Callable | None,
    ):
        self.app = app
        self.engine = engine
        self.redis = None
        if redis_url:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(
                redis_url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
            )
        self.metrics = metrics
        self.metrics_token = f"Bearer {metrics_token}".encode() if metrics_token else None
        self.caller_of = caller_of
        self.paths = {"/healthz": self.healthz, "/readyz": self.readyz}
        if metrics is not None:
            self.paths["/metrics"] = self.scrape

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            endpoint = self.paths.get(route_path(scope))
            if endpoint is not None:
                if scope["method"] not in ("GET", "HEAD"):
                    await send_problem(
                        send,
                        405,
                        "method-not-allowed",
                        f"{scope['method']} is not allowed here",
                        headers={"Allow": "GET, HEAD"},
                    )
                    return
                await endpoint(scope, send)
                return
        await self.app(scope, receive, send)

    async def healthz(self, scope, send) -> None:
        await _send_json(send, 200, {"status": "ok"})

    async def readyz(self, scope, send) -> None:
        checks = {"database": await self._check(self._database)}
        if self.redis is not None:
            checks["redis"] = await self._check(self._redis)
        if all(value == "ok" for value in checks.values()):
            await _send_json(send, 200, {"status": "ready", "checks": checks})
            return
        failing = ", ".join(name for name, value in checks.items() if value != "ok")
        await send_problem(
            send,
            503,
            "unavailable",
            f"not ready: {failing} unreachable",
            headers={"Retry-After": "1", "Cache-Control": "no-store"},
            checks=checks,
        )

    async def _check(self, check) -> str:
        try:
            with anyio.fail_after(CHECK_TIMEOUT):
                await check()
            return "ok"
        except Exception:
            return "unreachable"

    async def _database(self) -> None:
        def ping() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        await anyio.to_thread.run_sync(ping, abandon_on_cancel=True)

    async def _redis(self) -> None:
        await self.redis.ping()

    async def scrape(self, scope, send) -> None:
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
        allowed = (
            self.metrics_token is not None
            and authorization is not None
            and hmac.compare_digest(authorization, self.metrics_token)
        ) or (authorization is not None and caller_or_anonymous(self.caller_of, scope).is_admin)
        if not allowed:
            status = 401 if authorization is None else 403
            await send_problem(
                send,
                status,
                "unauthorized" if status == 401 else "forbidden",
                "metrics are for admins or the holder of the metrics token",
                headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
            )
            return
        body = generate_latest(self.metrics.registry)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _send_json(send, status: int, content) -> None:
    body = orjson.dumps(content)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
