"""Reads compiled once and reused: answers stay exact as data, callers and writers change."""

from __future__ import annotations

import pytest

from backforge import App
from backforge.auth.mail import Mailer
from backforge.database import create_database_engine
from backforge.store.caller import ADMIN, Caller
from backforge.store.listing import ListRequest

NOTES = {
    "name": "notes",
    "collections": {
        "users": {
            "auth": {"signup": "open"},
            "fields": {"name": {"type": "text"}},
            "rules": {"view": "id = auth.id"},
        },
        "notes": {
            "fields": {
                "title": {"type": "text", "required": True},
                "owner": {"type": "relation", "to": "users", "default": "auth.id"},
                "score": {"type": "float"},
                "done": {"type": "bool", "default": False},
                "tags": {"type": "json"},
            },
            "rules": {
                "list": "owner = auth.id",
                "view": "owner = auth.id",
                "create": "auth.id != null",
            },
        },
        "events": {
            "fields": {
                "price": {"type": "decimal", "max_digits": 8, "decimal_places": 2},
                "at": {"type": "datetime"},
            },
            "rules": {"list": "public", "view": "public", "create": "public"},
        },
    },
}


def _user(client, email: str) -> dict[str, str]:
    body = {"email": email, "password": "a-long-password-1"}
    token = client.post("/api/auth/users/signup", json=body).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(make_client):
    return make_client(NOTES, mailer=Mailer(None, "test@backforge.local"))


def test_each_caller_gets_their_own_rows_from_the_same_statement(client):
    ann, bob = _user(client, "ann@example.com"), _user(client, "bob@example.com")
    for title in ("a1", "a2"):
        assert client.post("/api/notes", json={"title": title}, headers=ann).status_code == 201
    client.post("/api/notes", json={"title": "b1"}, headers=bob)
    for _ in range(2):  # the second round reuses the statements of the first
        page = client.get("/api/notes?total=true", headers=ann).json()
        assert sorted(n["title"] for n in page["items"]) == ["a1", "a2"]
        assert page["total"] == 2
        page = client.get("/api/notes?total=true", headers=bob).json()
        assert [n["title"] for n in page["items"]] == ["b1"]
        assert page["total"] == 1
    bobs_note = page["items"][0]["id"]
    assert client.get(f"/api/notes/{bobs_note}", headers=bob).status_code == 200
    assert client.get(f"/api/notes/{bobs_note}", headers=ann).status_code == 404


def test_totals_follow_writes_made_by_another_process(client, db_url):
    ann = _user(client, "ann@example.com")
    client.post("/api/notes", json={"title": "first"}, headers=ann)
    assert client.get("/api/notes?total=true", headers=ann).json()["total"] == 1
    owner = client.get("/api/notes", headers=ann).json()["items"][0]["owner"]
    # Another process: its own engine and store on the same database.
    engine = create_database_engine(db_url)
    try:
        other = App.from_dict(NOTES, engine).store
        caller = Caller(id=owner, collection="users", method="token")
        other.create("notes", caller, {"title": "second"})
        assert client.get("/api/notes?total=true", headers=ann).json()["total"] == 2
        first = other.list("notes", ADMIN, ListRequest(filter='title = "first"')).items[0]
        other.delete("notes", ADMIN, first["id"])
    finally:
        engine.dispose()
    page = client.get("/api/notes?total=true", headers=ann).json()
    assert page["total"] == 1 == len(page["items"])


def test_a_created_record_is_answered_as_it_reads_back(client, admin):
    ann = _user(client, "ann@example.com")
    sent = {"title": "t", "score": 2, "tags": {"a": [1, None]}, "done": True}
    created = client.post("/api/notes", json=sent, headers=ann)
    assert created.status_code == 201
    fetched = client.get(f"/api/notes/{created.json()['id']}", headers=ann).json()
    assert created.json() == fetched
    assert fetched["score"] == 2.0 and fetched["tags"] == {"a": [1, None]}
    # Values the database normalises (decimals, time zones) come back as stored.
    event = client.post("/api/events", json={"price": "1.50", "at": "2024-01-01T02:00:00+02:00"})
    assert event.status_code == 201
    assert event.json() == client.get(f"/api/events/{event.json()['id']}").json()
    assert event.json()["at"] == "2024-01-01T00:00:00.000000Z"


def test_a_json_default_is_never_shared_between_records(make_client, admin, db_url):
    declaration = {
        "name": "defaults",
        "collections": {
            "boxes": {
                "fields": {"meta": {"type": "json", "default": {"tags": []}}},
                "rules": {"list": "public", "view": "public", "create": "public"},
            }
        },
    }
    make_client(declaration)
    engine = create_database_engine(db_url)
    try:
        store = App.from_dict(declaration, engine).store
        first = store.create("boxes", ADMIN, {})
        first["meta"]["tags"].append("changed")
        assert store.create("boxes", ADMIN, {})["meta"] == {"tags": []}
    finally:
        engine.dispose()
