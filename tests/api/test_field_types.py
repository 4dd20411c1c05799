"""Every field type and option: good values round-trip, bad ones answer 422 with a path."""

from __future__ import annotations

import itertools
import re

import pytest

ALL_TYPES = {
    "name": "types",
    "collections": {
        "targets": {
            "fields": {"label": {"type": "text"}},
            "rules": {"list": "public", "view": "public"},
        },
        "things": {
            "fields": {
                "title": {
                    "type": "text",
                    "required": True,
                    "min_length": 2,
                    "max_length": 10,
                    "pattern": "^[a-z ]+$",
                },
                "contact": {"type": "email"},
                "site": {"type": "url"},
                "count": {"type": "int", "min": -5, "max": 100, "default": 3},
                "ratio": {"type": "float", "min": 0, "max": 1},
                "price": {"type": "decimal", "min": 0, "max_digits": 8, "decimal_places": 2},
                "flag": {"type": "bool", "required": True, "default": False},
                "day": {"type": "date"},
                "moment": {"type": "datetime"},
                "data": {"type": "json"},
                "state": {"type": "select", "values": ["new", "old"], "default": "new"},
                "target": {"type": "relation", "to": "targets"},
                "code": {"type": "text", "unique": True, "index": True},
            },
            "rules": {"list": "public", "view": "public"},
        },
    },
}


@pytest.fixture
def client(make_client):
    return make_client(ALL_TYPES)


def test_every_type_round_trips(client, admin):
    target = client.post("/api/targets", json={"label": "t"}, headers=admin).json()["id"]
    body = {
        "title": "hello",
        "contact": "ann@example.com",
        "site": "https://example.com/a?b=c",
        "count": 42,
        "ratio": 0.25,
        "price": "19.99",
        "flag": True,
        "day": "2024-02-29",
        "moment": "2024-03-01T12:30:00+02:00",
        "data": {"nested": [1, "two", None, {"x": True}]},
        "state": "old",
        "target": target,
        "code": "c-1",
    }
    created = client.post("/api/things", json=body, headers=admin)
    assert created.status_code == 201, created.text
    record = client.get(f"/api/things/{created.json()['id']}").json()
    expected = {**body, "moment": "2024-03-01T10:30:00.000000Z"}
    assert {k: record[k] for k in body} == expected
    assert record["version"] == 1
    assert record["created"].endswith("Z") and record["created"] == record["updated"]


def test_defaults_apply_when_fields_are_omitted(client, admin):
    record = client.post("/api/things", json={"title": "ab"}, headers=admin).json()
    assert (record["count"], record["flag"], record["state"]) == (3, False, "new")
    assert record["contact"] is None and record["data"] is None


def test_ids_are_random_and_not_sequential(client, admin):
    ids = [
        client.post("/api/things", json={"title": "ab"}, headers=admin).json()["id"]
        for _ in range(5)
    ]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[a-z0-9]{15}", i) for i in ids)
    # Random, not a counter: consecutive ids differ in most positions.
    for a, b in itertools.pairwise(ids):
        assert sum(x != y for x, y in zip(a, b, strict=True)) > 7


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("title", "a", "at least 2 characters"),
        ("title", "abcdefghijk", "at most 10 characters"),
        ("title", "ABC", "pattern"),
        ("title", 12, "valid string"),
        ("contact", "not-an-email", "email"),
        ("site", "ftp://example.com", "http"),
        ("site", "example.com", "http"),
        ("count", 101, "at most 100"),
        ("count", -6, "at least -5"),
        ("count", "3", "valid integer"),
        ("count", 1.5, "valid integer"),
        ("ratio", 1.5, "at most 1"),
        ("price", -1, "at least 0"),
        ("price", "1.234", "decimal places"),
        ("price", "abc", "decimal"),
        ("flag", "yes", "valid boolean"),
        ("day", "2024-02-30", "date"),
        ("moment", "yesterday", "datetime"),
        ("state", "middle", "'new' or 'old'"),
        ("target", "nope", "pattern"),
        ("target", "abcdefghijklmno", "no record"),
    ],
)
def test_invalid_values_answer_422_naming_the_field(client, admin, field, value, fragment):
    response = client.post("/api/things", json={"title": "ok", field: value}, headers=admin)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:backforge:problem:validation"
    paths = {e["path"]: e["message"] for e in problem["errors"]}
    assert f"/{field}" in paths
    assert fragment.lower() in paths[f"/{field}"].lower()


def test_required_field_missing_and_null(client, admin):
    missing = client.post("/api/things", json={}, headers=admin)
    assert missing.status_code == 422
    assert {"path": "/title", "message": "this field is required"} in missing.json()["errors"]
    null = client.post("/api/things", json={"title": None}, headers=admin)
    assert null.status_code == 422
    record = client.post("/api/things", json={"title": "ab"}, headers=admin).json()
    patched = client.patch(f"/api/things/{record['id']}", json={"flag": None}, headers=admin)
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["path"] == "/flag"


def test_unknown_and_server_set_fields_are_rejected(client, admin):
    for extra in (
        {"is_admin": True},
        {"id": "aaaaaaaaaaaaaaa"},
        {"version": 9},
        {"created": "2020-01-01"},
    ):
        response = client.post("/api/things", json={"title": "ab", **extra}, headers=admin)
        assert response.status_code == 422, extra
        assert response.json()["errors"][0]["path"] == "/" + next(iter(extra))


def test_several_problems_are_reported_at_once(client, admin):
    response = client.post(
        "/api/things", json={"title": "A", "count": 1000, "bogus": 1}, headers=admin
    )
    assert {e["path"] for e in response.json()["errors"]} == {"/title", "/count", "/bogus"}


def test_unique_violation_is_409_naming_the_field(client, admin):
    assert (
        client.post("/api/things", json={"title": "ab", "code": "x"}, headers=admin).status_code
        == 201
    )
    response = client.post("/api/things", json={"title": "ab", "code": "x"}, headers=admin)
    assert response.status_code == 409
    assert response.json()["field"] == "code"
    assert "code" in response.json()["detail"]
    assert "UNIQUE" not in response.text and "INSERT" not in response.text


def test_json_field_accepts_any_json_value(client, admin):
    for value in ([1, 2], "text", 3.5, True, {"a": {"b": [None]}}):
        record = client.post(
            "/api/things", json={"title": "ab", "data": value}, headers=admin
        ).json()
        assert client.get(f"/api/things/{record['id']}").json()["data"] == value


def test_json_numbers_beyond_64_bits_read_back_as_numbers(client, admin):
    # PostgreSQL's JSONB writes 1e269 out in full digits; read as a Python int it would be
    # beyond what a JSON encoder takes, and every list holding the record would fail with 500.
    value = {"big": -2.4823668800538752e269, "small": 1.5e-300, "int": 2**62}
    created = client.post("/api/things", json={"title": "ab", "data": value}, headers=admin)
    assert created.status_code == 201, created.text
    record = client.get(f"/api/things/{created.json()['id']}").json()
    assert record["data"] == value
    listed = client.get("/api/things")
    assert listed.status_code == 200 and listed.json()["items"][0]["data"] == value
