"""A small RPC-style contract (register, login, set and get a secret; {"message"} errors, 400 and
401 only), checked against examples/secret_storage.yaml on SQLite and PostgreSQL — from the
contract, including what an attacker must not achieve."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "secret_storage.yaml"
BAD_TOKEN = {"message": "Invalid authentication token"}


@pytest.fixture
def service(make_client):
    return make_client(EXAMPLE)


def _register(client, name: str, password: str = "correct horse") -> None:
    answer = client.post(
        "/register",
        json={"email": f"{name}@example.com", "username": name, "password": password},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"message": "Registration successful"}


def _login(client, name: str, password: str = "correct horse") -> dict[str, str]:
    answer = client.post("/login", json={"email": f"{name}@example.com", "password": password})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["message"] == "Login successful" and set(body) == {"token", "message"}
    return {"Authorization": f"Bearer {body['token']}"}


def test_register_and_login(service):
    _register(service, "alice")
    taken = service.post(
        "/register", json={"email": "alice@example.com", "username": "other", "password": "x" * 10}
    )
    assert taken.status_code == 400
    assert taken.json() == {"message": "Email already in use or invalid data"}
    for invalid in (
        {"email": "not-an-email", "username": "u", "password": "x" * 10},
        {"email": "u@example.com", "password": "x" * 10},
        {"email": "u@example.com", "username": "u"},
        {"email": "u@example.com", "username": "u", "password": "x" * 10, "admin": True},
    ):
        refused = service.post("/register", json=invalid)
        assert refused.status_code == 400, invalid
        assert refused.json() == {"message": "Email already in use or invalid data"}
    _login(service, "alice")
    for wrong in (
        {"email": "alice@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": "correct horse"},
    ):
        refused = service.post("/login", json=wrong)
        assert refused.status_code == 401
        assert refused.json() == {"message": "Invalid email or password"}


def test_a_secret_is_set_and_read_by_its_owner_only(service):
    _register(service, "alice")
    _register(service, "bob")
    alice, bob = _login(service, "alice"), _login(service, "bob")
    stored = service.post(
        "/set_secret", json={"username": "alice", "secret": "s3cr3t"}, headers=alice
    )
    assert stored.status_code == 200
    assert stored.json() == {"message": "Secret has been set successfully"}
    read = service.get("/get_secret", params={"username": "alice"}, headers=alice)
    assert read.status_code == 200 and read.json() == {"secret": "s3cr3t"}

    # bob can neither overwrite nor read alice's secret, and cannot tell whether she exists.
    for target in ("alice", "nobody"):
        overwrite = service.post(
            "/set_secret", json={"username": target, "secret": "pwned"}, headers=bob
        )
        assert overwrite.status_code == 401 and overwrite.json() == BAD_TOKEN
        peek = service.get("/get_secret", params={"username": target}, headers=bob)
        assert peek.status_code == 401 and peek.json() == BAD_TOKEN
    assert service.get("/get_secret", params={"username": "alice"}, headers=alice).json() == {
        "secret": "s3cr3t"
    }
    # Setting a secret changes nothing else: the username stays, no other field is writable.
    renamed = service.post(
        "/set_secret",
        json={"username": "alice", "secret": "x", "email": "evil@example.com"},
        headers=alice,
    )
    assert renamed.status_code == 400
    _login(service, "alice")


def test_without_a_valid_token_nothing_is_answered(service):
    _register(service, "alice")
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        answer = service.post(
            "/set_secret", json={"username": "alice", "secret": "x"}, headers=headers
        )
        assert answer.status_code == 401 and answer.json() == BAD_TOKEN
        answer = service.get("/get_secret", params={"username": "alice"}, headers=headers)
        assert answer.status_code == 401 and answer.json() == BAD_TOKEN
