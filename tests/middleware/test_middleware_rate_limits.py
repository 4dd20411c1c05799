"""Rate limits: shared through Redis by every process, per caller or IP, stricter on auth."""

from __future__ import annotations

import httpx
from mw_support import ADMIN


def test_two_processes_sharing_redis_allow_exactly_n_requests_between_them(
    make_server, redis_url, key_prefix
):
    env = {
        "REDIS_URL": redis_url,
        "BACKFORGE_REDIS_KEY_PREFIX": key_prefix,
        "BACKFORGE_RATE_LIMITS__DEFAULT": "7/hour",
    }
    first, second = make_server(**env), make_server(**env)
    statuses = []
    for index in range(16):
        server = (first, second)[index % 2]
        statuses.append(httpx.get(server.url + "/api/notes").status_code)
    assert statuses.count(200) == 7
    assert statuses.count(429) == 9
    assert statuses[:7] == [200] * 7  # every refusal comes after the allowance is spent

    refused = httpx.get(second.url + "/api/notes")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:backforge:problem:rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == "7"
    # Health checks are never limited.
    assert httpx.get(first.url + "/healthz").status_code == 200


def test_limits_per_ip_stricter_on_auth_paths_and_admins_exempt(make_server):
    server = make_server(
        BACKFORGE_RATE_LIMITS__DEFAULT="3/hour", BACKFORGE_RATE_LIMITS__AUTH="2/hour"
    )
    remaining = [httpx.get(server.url + "/api/notes").headers["ratelimit-remaining"] for _ in "abc"]
    assert remaining == ["2", "1", "0"]
    assert httpx.get(server.url + "/api/notes").status_code == 429
    # The operator's admin token is not counted against the anonymous callers' IP.
    assert httpx.get(server.url + "/api/notes", headers=ADMIN).status_code == 200

    # Login, reset and sign-up have their own, stricter budget per client IP.
    statuses = [
        httpx.post(server.url + "/api/auth/login", json={"password": "x"}).status_code
        for _ in range(4)
    ]
    assert 429 not in statuses[:2]
    assert statuses[2:] == [429, 429]
