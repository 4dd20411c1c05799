"""The rule patterns the README teaches, each proven: owner-only, tenant membership through a
relation, published-or-own, and a staff role."""

from __future__ import annotations

import pytest

PASSWORD = "a long enough password"
DECLARATION = {
    "name": "examples",
    "collections": {
        "teams": {
            "fields": {"name": {"type": "text", "required": True}},
            "rules": {"view": "id = auth.team"},
        },
        "users": {
            "auth": True,
            "fields": {
                "team": {"type": "relation", "to": "teams", "readonly": True},
                "role": {
                    "type": "select",
                    "values": ["member", "staff"],
                    "default": "member",
                    "required": True,
                    "readonly": True,
                },
            },
            "rules": {"view": "id = auth.id"},
        },
        # Owner-only: each user sees and changes only their own drafts.
        "drafts": {
            "fields": {
                "owner": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "text": {"type": "text"},
            },
            "rules": {
                "list": "owner = auth.id",
                "view": "owner = auth.id",
                "create": "auth.id != null",
                "update": "owner = auth.id",
                "delete": "owner = auth.id",
            },
        },
        # Tenant membership through a relation: a team's projects are for its members only.
        "projects": {
            "fields": {
                "team": {"type": "relation", "to": "teams", "required": True},
                "name": {"type": "text"},
            },
            "rules": {
                "list": "team = auth.team",
                "view": "team = auth.team",
                "create": "team = auth.team",
                "update": "team = auth.team",
            },
        },
        # Published-or-own: everyone reads published posts; authors also read their drafts;
        # staff may edit anything.
        "posts": {
            "fields": {
                "author": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "published": {"type": "bool", "required": True, "default": False},
                "title": {"type": "text"},
            },
            "rules": {
                "list": "published = true || author = auth.id",
                "view": "published = true || author = auth.id",
                "create": "auth.id != null",
                "update": 'author = auth.id || auth.role = "staff"',
            },
        },
    },
}


@pytest.fixture
def world(make_client, admin):
    client = make_client(DECLARATION)
    teams = [
        client.post("/api/teams", json={"name": n}, headers=admin).json()["id"]
        for n in ("red", "blue")
    ]
    headers = {}
    for who, team, role in (("ann", 0, "member"), ("bob", 1, "member"), ("sue", 1, "staff")):
        response = client.post(
            "/api/auth/users/signup", json={"email": f"{who}@example.com", "password": PASSWORD}
        )
        user = response.json()["record"]["id"]
        client.patch(f"/api/users/{user}", json={"team": teams[team], "role": role}, headers=admin)
        token = response.json()["access_token"]
        headers[who] = {"Authorization": f"Bearer {token}"}
    return client, headers, teams


def test_owner_only(world):
    client, h, _ = world
    draft = client.post("/api/drafts", json={"text": "secret"}, headers=h["ann"]).json()
    assert client.get(f"/api/drafts/{draft['id']}", headers=h["ann"]).status_code == 200
    assert client.get(f"/api/drafts/{draft['id']}", headers=h["bob"]).status_code == 404
    assert client.get("/api/drafts", headers=h["bob"]).json()["items"] == []


def test_tenant_membership_through_a_relation(world):
    client, h, (red, blue) = world
    mine = client.post("/api/projects", json={"team": blue, "name": "b"}, headers=h["bob"])
    assert mine.status_code == 201
    assert (
        client.post("/api/projects", json={"team": red, "name": "x"}, headers=h["bob"]).status_code
        == 422  # bob cannot see the red team at all
    )
    listed = client.get("/api/projects", headers=h["sue"]).json()["items"]
    assert [p["name"] for p in listed] == ["b"]
    assert client.get("/api/projects", headers=h["ann"]).json()["items"] == []
    expanded = client.get("/api/projects", params={"expand": "team"}, headers=h["bob"]).json()
    assert expanded["items"][0]["expand"]["team"]["name"] == "blue"


def test_published_or_own_and_staff_role(world):
    client, h, _ = world
    draft = client.post("/api/posts", json={"title": "wip"}, headers=h["ann"]).json()
    public = client.post(
        "/api/posts", json={"title": "out", "published": True}, headers=h["ann"]
    ).json()
    assert {p["id"] for p in client.get("/api/posts").json()["items"]} == {public["id"]}
    assert {p["id"] for p in client.get("/api/posts", headers=h["ann"]).json()["items"]} == {
        draft["id"],
        public["id"],
    }
    assert (
        client.patch(
            f"/api/posts/{public['id']}", json={"title": "edited"}, headers=h["bob"]
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/posts/{public['id']}", json={"title": "edited"}, headers=h["sue"]
        ).status_code
        == 200
    )
    assert (
        client.patch(f"/api/posts/{draft['id']}", json={"title": "x"}, headers=h["sue"]).status_code
        == 404
    )
