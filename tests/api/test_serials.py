"""Serial numbers: the integer ids a contract shows (`/items/{id}` with id 1, 2, 3...), made by
the store on create, on SQLite and PostgreSQL: never written by a client, never reused, given
back by a create that fails, distinct under concurrent creates, and past rows stored around the
store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from backforge.database import create_database_engine
from backforge.spec import DeclarationError, load_dict
from backforge.store.caller import Caller
from backforge.store.records import RecordStore

ITEMS = {
    "name": "inventory",
    "collections": {
        "items": {
            "fields": {
                "number": {"type": "int", "serial": True, "unique": True, "required": True},
                "name": {"type": "text", "required": True, "unique": True},
                "stock": {"type": "int", "default": 0},
            },
            "rules": {"list": "public", "view": "public", "create": "public"},
        }
    },
    "shapes": {"item": {"collection": "items", "fields": {"id": "number", "name": "name"}}},
    "routes": {
        "GET /items": {"list": "items", "response": {"shape": "item"}, "paging": {"style": "none"}},
        "POST /items": {"create": "items", "response": {"shape": "item"}, "status": 201},
        "GET /items/{id}": {
            "get": "items",
            "key": "number",
            "key_param": "id",
            "response": {"shape": "item"},
        },
        "DELETE /items/{id}": {"delete": "items", "key": "number", "key_param": "id"},
    },
}
ADMIN = Caller(is_admin=True, method="admin_token")


def test_a_contract_with_integer_ids_is_served_by_a_serial_key(make_client, admin):
    client = make_client(ITEMS)
    made = [client.post("/items", json={"name": name}) for name in ("bolt", "nut", "gear")]
    assert [answer.status_code for answer in made] == [201, 201, 201]
    assert [answer.json() for answer in made] == [
        {"id": 1, "name": "bolt"},
        {"id": 2, "name": "nut"},
        {"id": 3, "name": "gear"},
    ]
    assert client.get("/items/2").json() == {"id": 2, "name": "nut"}
    assert client.get("/items/7").status_code == 404
    assert client.get("/items/two").status_code == 404  # names no record
    listed = client.get("/items").json()
    assert sorted(item["id"] for item in listed) == [1, 2, 3]
    # The last number deleted is not given again: an old link never names a new record.
    assert client.delete("/items/3", headers=admin).status_code in (200, 204)
    assert client.post("/items", json={"name": "cog"}).json() == {"id": 4, "name": "cog"}


def test_nobody_writes_a_serial_number(make_client, admin):
    client = make_client(ITEMS)
    for headers in ({}, admin):
        refused = client.post("/api/items", json={"name": "bolt", "number": 99}, headers=headers)
        assert refused.status_code == 422, refused.text
        assert "/number" in refused.text and "read-only" in refused.text
    item = client.post("/api/items", json={"name": "bolt"}).json()
    assert item["number"] == 1
    changed = client.patch(f"/api/items/{item['id']}", json={"number": 5}, headers=admin)
    assert changed.status_code == 422, changed.text
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    written = [name for name, schema in schemas.items() if name.startswith("Items")]
    assert written, schemas.keys()
    for name in written:
        properties = schemas[name].get("properties", {})
        if "stock" in properties and "id" not in properties:  # a body, not a record
            assert "number" not in properties, name


def test_a_failed_create_gives_its_number_back(make_client):
    client = make_client(ITEMS)
    assert client.post("/items", json={"name": "bolt"}).json()["id"] == 1
    duplicate = client.post("/items", json={"name": "bolt"})
    assert duplicate.status_code == 409, duplicate.text
    assert client.post("/items", json={"name": "nut"}).json()["id"] == 2


def test_concurrent_creates_take_distinct_numbers(db_url):
    engine = create_database_engine(db_url)
    store = RecordStore(load_dict(ITEMS), engine)
    store.metadata.create_all(engine)
    try:

        def make(i: int) -> int:
            return store.create("items", ADMIN, {"name": f"item-{i}"})["number"]

        with ThreadPoolExecutor(max_workers=6) as pool:
            numbers = list(pool.map(make, range(40)))
        assert sorted(numbers) == list(range(1, 41))
    finally:
        engine.dispose()


def test_numbering_starts_past_rows_stored_around_the_store(db_url):
    """Rows imported with their numbers (or written by another tool): the next one is past
    the highest, whether the counter exists yet or not."""
    engine = create_database_engine(db_url)
    store = RecordStore(load_dict(ITEMS), engine)
    store.metadata.create_all(engine)
    table = store.tables["items"]
    try:
        assert store.create("items", ADMIN, {"name": "first"})["number"] == 1
        assert store.create("items", ADMIN, {"name": "second"})["number"] == 2
        now = datetime.now(UTC)
        with engine.begin() as connection:
            row = {"created": now, "updated": now, "version": 1, "stock": 0}
            connection.execute(
                insert(table).values(id="imported0000041", number=41, name="imported", **row)
            )
        assert store.create("items", ADMIN, {"name": "third"})["number"] == 42
        assert store.create("items", ADMIN, {"name": "fourth"})["number"] == 43
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "field",
    [
        {"type": "text", "serial": True, "unique": True},
        {"type": "int", "serial": True},
        {"type": "int", "serial": True, "unique": True, "default": 1},
    ],
)
def test_a_serial_is_a_unique_int_without_default(field):
    declaration = {
        "name": "x",
        "collections": {"things": {"fields": {"number": field}, "rules": {}}},
    }
    with pytest.raises(DeclarationError) as refused:
        load_dict(declaration)
    assert "serial" in str(refused.value) and "unique int" in str(refused.value)
