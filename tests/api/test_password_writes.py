"""A password changes where the old one is checked (POST /api/auth/<c>/password): the record
routes and ctx.store refuse it from everyone but admins, and a password an admin sets ends the
account's other logins."""

from __future__ import annotations

import textwrap

PASSWORD = "correct horse battery"
NEW = "a different passphrase"


def _project(tmp_path):
    (tmp_path / "password_hooks.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel
        from backforge.hooks import Endpoints

        endpoints = Endpoints()

        class NewPassword(BaseModel):
            password: str

        @endpoints.post("/api/me/password", request=NewPassword, requires_login=True)
        def set_password(ctx):
            ctx.store.update("users", ctx.caller.id, {"password": ctx.body.password})
            return {"ok": True}
        """)
    )
    (tmp_path / "accounts.yaml").write_text(
        textwrap.dedent("""
        name: accounts
        hooks: password_hooks.py
        collections:
          users:
            auth: {signup: open}
            fields: {name: {type: text}}
            rules: {view: id = auth.id, update: id = auth.id}
        """)
    )
    return tmp_path / "accounts.yaml"


def _signup(client):
    body = {"email": "ann@example.com", "password": PASSWORD}
    response = client.post("/api/auth/users/signup", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _login(client, password):
    body = {"email": "ann@example.com", "password": password}
    return client.post("/api/auth/users/login", json=body).status_code


def _bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_the_owner_cannot_change_a_password_through_the_record_routes(make_client, tmp_path):
    client = make_client(_project(tmp_path))
    ann = _signup(client)
    url = f"/api/users/{ann['record']['id']}"
    for body in ({"password": NEW}, {"name": "Ann", "password": NEW}):
        response = client.patch(url, json=body, headers=_bearer(ann))
        assert response.status_code == 422, response.text
        [problem] = response.json()["errors"]
        assert problem["path"] == "/password"
        assert "POST /api/auth/users/password" in problem["message"]
    through_code = client.post("/api/me/password", json={"password": NEW}, headers=_bearer(ann))
    assert through_code.status_code == 422, through_code.text
    assert "POST /api/auth/users/password" in through_code.json()["errors"][0]["message"]
    assert client.get(url, headers=_bearer(ann)).json()["name"] is None
    assert _login(client, NEW) == 401 and _login(client, PASSWORD) == 200
    # The document does not offer it either.
    document = client.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "password" not in schemas["UsersUpdate"]["properties"]
    assert "password" in schemas["UsersCreate"]["properties"]


def test_a_password_an_admin_sets_ends_the_accounts_other_logins(make_client, tmp_path, admin):
    client = make_client(_project(tmp_path))
    ann = _signup(client)
    login = client.post(
        "/api/auth/users/session", json={"email": "ann@example.com", "password": PASSWORD}
    )
    session = {"Cookie": f"bf_session={login.cookies['bf_session']}"}
    client.cookies.clear()
    assert client.get("/api/auth/me", headers=session).status_code == 200
    url = f"/api/users/{ann['record']['id']}"
    assert client.patch(url, json={"password": NEW}, headers=admin).status_code == 200
    refresh = client.post("/api/auth/users/refresh", json={"refresh_token": ann["refresh_token"]})
    assert refresh.status_code == 400
    assert client.get("/api/auth/me", headers=session).status_code == 401
    assert _login(client, PASSWORD) == 401 and _login(client, NEW) == 200
