"""Logins through `ctx.auth.login` in a custom endpoint are throttled like /api/auth logins:
failures count although the endpoint's transaction rolls back, and per the request's client."""

from __future__ import annotations

import textwrap

import anyio
import httpx
from sqlalchemy import select

PASSWORD = "correct horse battery"


def _project(tmp_path, max_failed_logins: int):
    (tmp_path / "token_hooks.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel
        from backforge.hooks import Endpoints

        endpoints = Endpoints()

        class Credentials(BaseModel):
            email: str
            password: str

        @endpoints.post("/api/token", request=Credentials)
        def token(ctx):
            ctx.system.create("attempts", {"email": ctx.body.email})  # rolled back on failure
            tokens = ctx.auth.login("members", ctx.body.email, ctx.body.password)
            return {"access_token": tokens.access_token}

        @endpoints.post("/api/plain-token", request=Credentials)
        def plain_token(ctx):
            tokens = ctx.auth.login("members", ctx.body.email, ctx.body.password)
            return {"access_token": tokens.access_token}
        """)
    )
    (tmp_path / "members.yaml").write_text(
        textwrap.dedent(f"""
        name: members
        hooks: token_hooks.py
        collections:
          members:
            auth: {{signup: open, max_failed_logins: {max_failed_logins}, lockout_seconds: 600}}
            rules: {{view: id = auth.id}}
          attempts:
            fields: {{email: {{type: text}}}}
        """)
    )
    return tmp_path / "members.yaml"


def _signup(client, email):
    body = {"email": email, "password": PASSWORD}
    assert client.post("/api/auth/members/signup", json=body).status_code == 201


def _from(app, address: str):
    """Requests to the app from the client `address`."""

    def post(path: str, body: dict) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.post(path, json=body)

        return anyio.run(call)

    return post


def _failures(app) -> dict[str, int]:
    table = app.store.metadata.tables["_bf_auth_failures"]
    with app.engine.connect() as connection:
        return {row.key: row.count for row in connection.execute(select(table))}


def test_failed_logins_in_a_custom_endpoint_lock_the_account(make_client, tmp_path, admin):
    client = make_client(_project(tmp_path, max_failed_logins=5))
    _signup(client, "ann@example.com")
    wrong = {"email": "ann@example.com", "password": "not the password"}
    answers = [client.post("/api/token", json=wrong).status_code for _ in range(8)]
    assert answers == [401] * 5 + [429] * 3
    right = client.post("/api/token", json={"email": "ann@example.com", "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    counted = _failures(client.app)
    assert sorted(counted.values()) == [5, 5]  # the account, and the client's address
    assert "ip:127.0.0.1" in counted
    # The endpoint's own writes were rolled back each time; the failures were not.
    assert client.get("/api/attempts", headers=admin).json()["items"] == []
    # The /api/auth login sees the same lock.
    login = client.post("/api/auth/members/login", json={**wrong, "password": PASSWORD})
    assert login.status_code == 429


def test_a_custom_endpoint_counts_failures_per_client_address(make_client, tmp_path):
    client = make_client(_project(tmp_path, max_failed_logins=1))  # an address: 5 failures
    _signup(client, "bob@example.com")
    attacker, bystander = _from(client.app, "203.0.113.7"), _from(client.app, "198.51.100.2")
    for number in range(5):
        guess = {"email": f"user{number}@example.com", "password": "guess"}
        assert attacker("/api/token", guess).status_code == 401
    right = {"email": "bob@example.com", "password": PASSWORD}
    assert attacker("/api/token", right).status_code == 429  # the address is locked
    assert bystander("/api/token", right).status_code == 200  # another client is not
    assert _failures(client.app)["ip:203.0.113.7"] == 5
    assert "ip:198.51.100.2" not in _failures(client.app)


def test_an_identity_no_database_stores_is_an_unknown_account(make_client, tmp_path):
    client = make_client(_project(tmp_path, max_failed_logins=5))
    _signup(client, "ann@example.com")
    for email in ("ann\u0000@example.com", "a\u0000b"):
        response = client.post("/api/plain-token", json={"email": email, "password": PASSWORD})
        assert response.status_code == 401, response.text  # not a 500 (PostgreSQL refuses NUL)
