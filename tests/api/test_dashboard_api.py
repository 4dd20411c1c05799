"""What the admin dashboard asks of the API beyond the record routes: the declaration's shape,
migration status and an account's logins and keys — for admins only — and the page itself
under its own CSP."""

from __future__ import annotations

import pytest

PASSWORD = "correct horse battery"
DECLARATION = {
    "name": "dash",
    "collections": {
        "users": {
            "auth": True,
            "fields": {"name": {"type": "text"}, "secret_note": {"type": "text", "hidden": True}},
            "rules": {"view": "id = auth.id"},
        },
        "orders": {
            "fields": {
                "number": {"type": "int", "serial": True, "unique": True},
                "status": {"type": "select", "values": ["new", "paid"], "default": "new"},
                "buyer": {"type": "relation", "to": "users", "default": "auth.id"},
                "receipt": {"type": "file", "accept": ["application/pdf"]},
            },
            "rules": {"list": "buyer = auth.id", "view": "buyer = auth.id"},
            "record_routes": ["list", "view"],
        },
    },
}


@pytest.fixture
def client(make_client, tmp_path):
    return make_client({**DECLARATION, "server": {"files": {"path": str(tmp_path / "files")}}})


def _sign_up(client, email: str) -> dict:
    made = client.post("/api/auth/users/signup", json={"email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    return made.json()


def test_the_page_is_served_under_its_own_policy(client):
    page = client.get("/_/")
    assert page.status_code == 200 and "app.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/_/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/_/secrets.txt").status_code == 404
    assert client.get("/_", follow_redirects=False).headers["location"] == "/_/"


def test_the_shape_is_for_admins_and_says_what_the_forms_need(client, admin):
    member = _sign_up(client, "member@example.com")
    member_headers = {"Authorization": f"Bearer {member['access_token']}"}
    assert client.get("/api/admin/schema").status_code == 401
    assert client.get("/api/admin/schema", headers=member_headers).status_code == 403
    shape = client.get("/api/admin/schema", headers=admin).json()
    assert shape["accounts"] == ["users"] and shape["jobs"] is False
    collections = {c["name"]: c for c in shape["collections"]}
    assert collections["users"]["auth"] is True
    assert "secret_note" not in {f["name"] for f in collections["users"]["fields"]}
    orders = collections["orders"]
    assert orders["serves"] == ["list", "view"]
    fields = {f["name"]: f for f in orders["fields"]}
    assert fields["number"]["serial"] is True
    assert fields["status"] == {
        "name": "status",
        "type": "select",
        "values": ["new", "paid"],
        "default": "new",
    }
    assert "default" not in fields["buyer"]  # the caller's id is no value to show
    assert fields["receipt"]["accept"] == ["application/pdf"]


def test_migration_status_says_whether_the_database_matches(client, admin):
    status = client.get("/api/admin/migrations", headers=admin).json()
    assert status["up_to_date"] is True and status["drift"] == []
    assert client.get("/api/admin/migrations").status_code == 401


def test_an_admin_ends_an_accounts_logins_and_revokes_its_keys(client, admin):
    member = _sign_up(client, "member@example.com")
    user_id = member["record"]["id"]
    own = {"Authorization": f"Bearer {member['access_token']}"}
    key = client.post("/api/auth/keys", json={"name": "ci", "scopes": ["*"]}, headers=own)
    assert key.status_code == 201, key.text
    base = f"/api/admin/accounts/users/{user_id}"
    listed = client.get(f"{base}/keys", headers=admin).json()["items"]
    assert [k["name"] for k in listed] == ["ci"]
    assert client.get(f"{base}/keys", headers=own).status_code == 403
    assert client.delete(f"{base}/keys/{listed[0]['id']}", headers=admin).status_code == 204
    assert client.get(f"{base}/keys", headers=admin).json()["items"] == []
    assert client.delete(f"{base}/keys/no-such-key", headers=admin).status_code == 404
    api_key = {"Authorization": f"Bearer {key.json()['key']}"}
    assert client.get(f"/api/users/{user_id}", headers=api_key).status_code == 401
    assert client.post(f"{base}/logout", headers=admin).status_code == 204
    refreshed = client.post(
        "/api/auth/users/refresh", json={"refresh_token": member["refresh_token"]}
    )
    assert refreshed.status_code in (400, 401)
    assert client.post("/api/admin/accounts/orders/x/logout", headers=admin).status_code == 404
