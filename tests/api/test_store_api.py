"""The store Python code sees (`ctx.store`, `ctx.system`): filters with bound parameters, find by
a unique field, pages by offset or cursor with totals, every page, counts and aggregates, and
atomic increments — under the caller's rules, on SQLite and PostgreSQL, over HTTP through custom
endpoints."""

from __future__ import annotations

import json

import pytest

PASSWORD = "a long enough password"
DECLARATION = {
    "name": "store-api",
    "hooks": "store_hooks.py",
    "collections": {
        "users": {"auth": True, "fields": {"name": {"type": "text"}}, "rules": {"view": "public"}},
        "items": {
            "fields": {
                "owner": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "name": {"type": "text", "required": True, "unique": True},
                "stock": {"type": "int", "min": 0, "max": 10, "default": 0},
                "price": {"type": "decimal", "default": 0},
            },
            "rules": {
                "list": "owner = auth.id",
                "view": "owner = auth.id",
                "create": "auth.id != null",
                "update": "owner = auth.id",
            },
        },
    },
}
HOOKS = """
from backforge.hooks import Endpoints

endpoints = Endpoints()


def _query(ctx):
    return dict(ctx.query)


@endpoints.get("/code/mine")
def mine(ctx):
    owner = ctx.query.get("owner")
    items = ctx.store.list("items", filter="owner = params.owner", params={"owner": owner})
    return {"names": sorted(i["name"] for i in items)}


@endpoints.get("/code/named")
def named(ctx):
    found = ctx.store.find("items", name=ctx.query["name"])
    return {"found": found["name"] if found else None}


@endpoints.get("/code/cheap")
def cheap(ctx):
    found = ctx.store.find("items", filter="price < params.most", params={"most": 5})
    return {"found": found is not None}


@endpoints.get("/code/pages")
def pages(ctx):
    first = ctx.store.page("items", sort="name", limit=2, offset=1, total=True)
    by_cursor = ctx.store.page("items", sort="name", limit=2)
    following = ctx.store.page("items", sort="name", limit=2, cursor=by_cursor.next_cursor)
    every = [i["name"] for i in ctx.store.all("items", sort="name", page_size=2)]
    return {
        "offset": [i["name"] for i in first.items],
        "total": first.total,
        "cursor": [i["name"] for i in by_cursor.items + following.items],
        "all": every,
    }


@endpoints.get("/code/sums")
def sums(ctx):
    store = ctx.store
    return {
        "count": store.count("items"),
        "stocked": store.count("items", filter="stock > params.least", params={"least": 0}),
        "stock": store.aggregate("items", "sum", "stock"),
        "average": store.aggregate("items", "avg", "stock"),
        "dearest": str(store.aggregate("items", "max", "price")),
        "first": store.aggregate("items", "min", "name"),
        "none": store.aggregate("items", "sum", "stock", "stock > params.n", {"n": 100}),
        "everyone": ctx.system.count("items"),
    }


@endpoints.post("/code/take/{name}")
def take(ctx):
    item = ctx.store.find("items", name=ctx.path_params["name"])
    if item is None:
        return {"stock": None}
    return {"stock": ctx.store.increment("items", item["id"], "stock", -1)["stock"]}


@endpoints.post("/code/add/{id}")
def add(ctx):
    return {"stock": ctx.store.increment("items", ctx.path_params["id"], "stock", 1)["stock"]}
"""


@pytest.fixture
def shop(tmp_path, make_client):
    (tmp_path / "store_hooks.py").write_text(HOOKS)
    path = tmp_path / "store.yaml"
    path.write_text(json.dumps(DECLARATION))
    client = make_client(path)
    people = {}
    for name in ("ann", "bob"):
        answer = client.post(
            "/api/auth/users/signup",
            json={"email": f"{name}@example.org", "password": PASSWORD, "name": name},
        )
        assert answer.status_code == 201, answer.text
        people[name] = (
            {"Authorization": f"Bearer {answer.json()['access_token']}"},
            answer.json()["record"]["id"],
        )
    return client, people


def _items(client, headers, *rows):
    for name, stock, price in rows:
        item = {"name": name, "stock": stock, "price": price}
        answer = client.post("/api/items", json=item, headers=headers)
        assert answer.status_code == 201, answer.text


def test_a_bound_parameter_is_a_value_never_filter_text(shop):
    client, people = shop
    (ann, ann_id), (bob, bob_id) = people["ann"], people["bob"]
    _items(client, ann, ("a1", 1, 1))
    _items(client, bob, ("b1", 1, 1))
    assert client.get("/code/mine", params={"owner": ann_id}, headers=ann).json() == {
        "names": ["a1"]
    }
    for attack in (f'{ann_id}" || owner != "', "x' OR '1'='1", f"{bob_id}"):
        answer = client.get("/code/mine", params={"owner": attack}, headers=ann)
        assert answer.status_code == 200
        assert answer.json() == {"names": []}  # bob's rows stay bob's: the rule still applies


def test_find_by_a_unique_field_or_a_filter(shop):
    client, people = shop
    ann, bob = people["ann"][0], people["bob"][0]
    _items(client, ann, ("lamp", 2, 3))
    assert client.get("/code/named", params={"name": "lamp"}, headers=ann).json() == {
        "found": "lamp"
    }
    assert client.get("/code/named", params={"name": "lamp"}, headers=bob).json() == {"found": None}
    assert client.get("/code/cheap", headers=ann).json() == {"found": True}
    assert client.get("/code/cheap", headers=bob).json() == {"found": False}


def test_pages_by_offset_and_cursor_and_every_page(shop):
    client, people = shop
    ann = people["ann"][0]
    _items(client, ann, *[(name, 1, 1) for name in ("e", "a", "d", "c", "b")])
    assert client.get("/code/pages", headers=ann).json() == {
        "offset": ["b", "c"],
        "total": 5,
        "cursor": ["a", "b", "c", "d"],
        "all": ["a", "b", "c", "d", "e"],
    }


def test_counts_and_aggregates_see_what_the_caller_may_list(shop):
    client, people = shop
    ann, bob = people["ann"][0], people["bob"][0]
    _items(client, ann, ("a", 0, "1.50"), ("b", 4, "9.99"), ("c", 2, "0.10"))
    _items(client, bob, ("z", 9, "100"))
    assert client.get("/code/sums", headers=ann).json() == {
        "count": 3,
        "stocked": 2,
        "stock": 6,
        "average": 2.0,
        "dearest": "9.99",
        "first": "a",
        "none": None,
        "everyone": 4,
    }


def test_increment_is_atomic_bounded_and_ruled(shop):
    client, people = shop
    ann, bob = people["ann"][0], people["bob"][0]
    _items(client, ann, ("lamp", 2, 1))
    assert client.post("/code/take/lamp", headers=ann).json() == {"stock": 1}
    assert client.post("/code/take/lamp", headers=ann).json() == {"stock": 0}
    below = client.post("/code/take/lamp", headers=ann)
    assert below.status_code == 422
    assert below.json()["errors"][0]["path"] == "/stock"
    item = client.get("/api/items", headers=ann).json()["items"][0]
    assert item["stock"] == 0 and item["version"] == 3
    # bob cannot see ann's lamp, so he cannot change it either.
    assert client.post(f"/code/add/{item['id']}", headers=bob).status_code == 404
    for _ in range(10):
        client.post(f"/code/add/{item['id']}", headers=ann)
    assert client.get(f"/api/items/{item['id']}", headers=ann).json()["stock"] == 10


def test_a_service_of_endpoints_only_needs_no_collection(tmp_path, make_client):
    (tmp_path / "calc.py").write_text(
        "from pydantic import BaseModel\n"
        "from backforge.hooks import Endpoints\n\n"
        "endpoints = Endpoints()\n\n\n"
        "class Pair(BaseModel):\n"
        "    a: int\n"
        "    b: int\n\n\n"
        "@endpoints.post('/add', request=Pair)\n"
        "def add(ctx):\n"
        "    return {'sum': ctx.body.a + ctx.body.b}\n"
    )
    path = tmp_path / "calc.yaml"
    path.write_text("name: calc\nhooks: calc.py\n")
    client = make_client(path)
    assert client.post("/add", json={"a": 2, "b": 3}).json() == {"sum": 5}
    assert client.post("/add", json={"a": "x", "b": 3}).status_code == 422
    assert "/add" in client.get("/api/openapi.json").json()["paths"]
