"""Scale-out: two hosts' worth of processes — `backforge serve --workers 2` twice, four
processes — on one PostgreSQL and one Redis behave as one system: an account made on one host
logs in on the other, refresh tokens rotate and are revoked for every process, a login limit
counts the attempts made anywhere, and totals follow writes made on the other host. (Realtime
across processes: test_realtime_processes.py; cron with two workers: tests/jobs/test_cron.py;
the response cache: test_middleware_cache.py.)"""

from __future__ import annotations

import json

import httpx
import pytest

DECLARATION = {
    "name": "scale",
    "collections": {
        "users": {
            "auth": {"signup": "open", "login": ["email"]},
            "fields": {"name": {"type": "text", "required": True}},
            "rules": {"view": "id = auth.id"},
        },
        "notes": {
            "fields": {
                "owner": {"type": "relation", "to": "users", "default": "auth.id"},
                "title": {"type": "text", "required": True},
            },
            "rules": {"list": "auth.id != null", "view": "auth.id != null", "create": "true"},
        },
    },
}
PASSWORD = "a long enough password 1"


@pytest.fixture
def two_hosts(tmp_path, make_server, postgres_url, redis_url, key_prefix):
    declaration = tmp_path / "scale.yaml"
    declaration.write_text(json.dumps(DECLARATION), encoding="utf-8")  # JSON is YAML
    env = {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "BACKFORGE_REDIS_KEY_PREFIX": key_prefix,
        "BACKFORGE_JWT_SECRET": "scale-out-jwt-secret-" + "s" * 32,  # every process trusts it
        "BACKFORGE_RATE_LIMITS__AUTH": "12/minute",
    }
    first = make_server(declaration, ("--workers", "2"), **env)
    second = make_server(declaration, ("--workers", "2"), **env)
    return first.url, second.url


def _post(url: str, body: dict, token: str | None = None) -> httpx.Response:
    # A new connection each time: either worker of the host may accept it.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_four_processes_on_one_database_and_redis_behave_as_one(two_hosts):
    a, b = two_hosts
    account = {"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    signed_up = _post(f"{a}/api/auth/users/signup", account)
    assert signed_up.status_code == 201
    assert _post(f"{b}/api/auth/users/signup", account).status_code == 409  # one database

    login = {"email": account["email"], "password": PASSWORD}
    tokens = _post(f"{b}/api/auth/users/login", login).json()
    me = _get(f"{a}/api/auth/me", tokens["access_token"])
    assert me.status_code == 200 and me.json()["id"] == signed_up.json()["record"]["id"]

    # Refresh tokens rotate on one host; the spent one is refused on the other (reuse).
    rotated = _post(f"{a}/api/auth/users/refresh", {"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    reused = _post(f"{b}/api/auth/users/refresh", {"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 400 and "reuse" in reused.json()["detail"]
    # ...and the reuse revoked the newer one everywhere.
    newer = rotated.json()["refresh_token"]
    for host in (a, b):
        assert _post(f"{host}/api/auth/users/refresh", {"refresh_token": newer}).status_code in (
            400,
            401,
        )

    # Totals follow the writes of the other host at once.
    token = _post(f"{a}/api/auth/users/login", login).json()["access_token"]
    for number in range(6):
        host = (a, b)[number % 2]
        created = _post(f"{host}/api/notes", {"title": f"note {number}"}, token)
        assert created.status_code == 201
        for reader in (a, b):
            page = _get(f"{reader}/api/notes?total=true&limit=1", token).json()
            assert page["total"] == number + 1

    # The limit on /api/auth/ (12 a minute per client) counts the requests made to every
    # process: 9 above (2 sign-ups, 2 logins, me, 4 refreshes), so 3 more, on either host.
    wrong = {"email": account["email"], "password": "not the password at all"}
    hosts = (b, a, b, a, b)
    statuses = [_post(f"{host}/api/auth/users/login", wrong).status_code for host in hosts]
    assert statuses == [401, 401, 401, 429, 429]
