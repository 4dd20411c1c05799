"""The same jobs with the queue on the real Redis (REDIS_URL), as at scale."""

from __future__ import annotations

import os

import pytest

from backforge.jobs.queue import storage_kind
from backforge.store.hooks import SYSTEM

from .conftest import wait_for

REDIS_URL = os.environ.get("BACKFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("BACKFORGE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is required but not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def test_jobs_flow_through_redis(project, redis_url):
    shop = project(
        jobs={"send_receipt": {"on": "orders.create", "handler": "job_hooks.send_receipt"}},
        env={"REDIS_URL": redis_url},
    )
    huey = shop.app.jobs.huey
    try:
        assert storage_kind(huey) == "redis"
        order = shop.store.create("orders", SYSTEM, {"note": "ok"})
        assert huey.pending_count() == 1  # queued in Redis once the write committed
        shop.start_worker()
        wait_for(lambda: shop.rows("receipts", order_id=order["id"]), "the receipt")
        wait_for(lambda: shop.jobs()[0]["status"] == "done", "the job to be done")
        assert huey.pending_count() == 0
    finally:
        huey.flush()
