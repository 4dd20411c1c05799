"""Tests written against the contract alone (paths, bodies, envelopes, error shape) — not
against backforge's own API."""

from __future__ import annotations

from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
PASSWORD = "contract password 1"


@pytest.fixture
def api(make_client):
    return make_client(CONTRACT / "notes.yaml")


def _token(api, username="ann"):
    assert (
        api.post("/v1/register", json={"username": username, "password": PASSWORD}).status_code
        == 201
    )
    response = api.post("/v1/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return {"Authorization": f"Token {response.json()['data']['token']}"}


def test_register_answers_the_enveloped_account(api):
    response = api.post("/v1/register", json={"username": "ann", "password": PASSWORD})
    assert response.status_code == 201
    assert set(response.json()) == {"data"}
    assert response.json()["data"]["username"] == "ann"


def test_register_twice_is_a_contract_error(api):
    _token(api)
    again = api.post("/v1/register", json={"username": "ann", "password": PASSWORD})
    assert again.status_code == 409
    assert set(again.json()) == {"error"} and again.json()["error"]["code"] == "conflict"


def test_bad_input_and_bad_login_keep_the_error_shape(api):
    bad = api.post("/v1/register", json={"username": "A!", "password": "short"})
    assert bad.status_code == 422 and set(bad.json()["error"]) == {"code", "message"}
    _token(api)
    wrong = api.post("/v1/login", json={"username": "ann", "password": "wrong password!!"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"


def test_notes_are_enveloped_and_private(api):
    ann, bob = _token(api, "ann"), _token(api, "bob")
    created = api.post("/v1/notes", json={"title": "milk"}, headers=ann)
    assert created.status_code == 201
    assert set(created.json()["data"]) == {"id", "title", "created_at"}
    assert [n["title"] for n in api.get("/v1/notes", headers=ann).json()["data"]] == ["milk"]
    assert api.get("/v1/notes", headers=bob).json() == {"data": []}
    anonymous = api.get("/v1/notes")
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    empty = api.post("/v1/notes", json={"title": ""}, headers=ann)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation"
