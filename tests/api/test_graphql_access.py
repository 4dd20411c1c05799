"""The shop's access matrix repeated through GraphQL: for anonymous, two customers, staff and
admin, every collection lists and gets exactly the records and fields REST gives that caller,
relations followed through GraphQL show only what the caller may view, and every write REST
refuses is refused through GraphQL with the same status."""

from __future__ import annotations

from typing import Any

import pytest
from test_shop_access import PASSWORD, world  # noqa: F401  (the same world as the REST tests)

CALLERS = ("anonymous", "ann", "bob", "stan", "admin")
COLLECTIONS = ("categories", "products", "customers", "orders", "order_items")
RELATIONS = {"products": ["category"], "orders": ["customer"], "order_items": ["order", "product"]}
FIELDS = {
    "categories": "id created updated version name slug description",
    "products": "id created updated version name sku price stock active category_id weight_kg "
    "attributes released",
    "customers": "id created updated version email verified admin name website role tier "
    "newsletter",
    "orders": "id created updated version customer_id status placed_at total note",
    "order_items": "id created updated version order_id product_id quantity unit_price",
}


def gql(w, who: str, query: str, **variables: Any) -> tuple[Any, list[dict[str, Any]]]:
    response = w.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=w.headers[who]
    )
    w.texts.append(response.text)
    body = response.json()
    # 400: the query itself is wrong (nothing ran); else 200, with errors beside the data.
    assert response.status_code == (400 if "data" not in body else 200), response.text
    return body.get("data"), body.get("errors") or []


def status(errors: list[dict[str, Any]]) -> int:
    """The status REST would have answered with: the first error's, or 200 without one."""
    return errors[0]["extensions"]["status"] if errors else 200


def as_rest(collection: str, record: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL record in REST's form (a relation field holds the related id)."""
    record = dict(record)
    for name in RELATIONS.get(collection, []):
        record[name] = record.pop(f"{name}_id")
    return record


def test_every_caller_lists_and_gets_what_rest_gives_them(world):  # noqa: F811
    w = world
    for who in CALLERS:
        for collection in COLLECTIONS:
            rest = w.call(who, "GET", f"/api/{collection}", params={"limit": 200, "total": 1})
            assert rest.status_code == 200, rest.text
            query = f"{{ {collection}(first: 200) {{ items {{ {FIELDS[collection]} }} total }} }}"
            data, errors = gql(w, who, query)
            assert errors == [], errors
            page = data[collection]
            items = [as_rest(collection, r) for r in page["items"]]
            assert items == rest.json()["items"], (who, collection)
            assert page["total"] == rest.json()["total"], (who, collection)
        for record_id in w.ids.values():
            for collection in COLLECTIONS:
                rest = w.call(who, "GET", f"/api/{collection}/{record_id}")
                fields = FIELDS[collection]
                query = f"query($id: ID!) {{ {collection}_by_id(id: $id) {{ {fields} }} }}"
                data, errors = gql(w, who, query, id=record_id)
                assert errors == []
                found = data[f"{collection}_by_id"]
                if rest.status_code == 404:
                    assert found is None, (who, collection, record_id)
                else:
                    assert rest.status_code == 200
                    assert as_rest(collection, found) == rest.json(), (who, collection)


def test_relations_show_only_what_the_caller_may_view(world):  # noqa: F811
    w = world
    query = """{ order_items { items { id order { id customer { id name email } }
                 product { sku category { slug products { sku } } } } } }"""
    data, errors = gql(w, "bob", query)
    assert errors == []
    items = data["order_items"]["items"]
    assert [i["id"] for i in items] == [w.ids["item_bob"]]
    bob = {"id": w.ids["bob"], "name": "bob", "email": "bob@example.com"}
    assert items[0]["order"]["customer"] == bob
    # The inactive product is not among the category's products for a customer...
    assert items[0]["product"]["category"]["products"] == [{"sku": "SKU-ON"}]
    # ...and is for staff; staff read customers' names but not their emails (a read rule).
    data, errors = gql(w, "stan", query)
    assert errors == []
    assert len(data["order_items"]["items"]) == 2
    for item in data["order_items"]["items"]:
        assert item["order"]["customer"]["email"] is None
        skus = {p["sku"] for p in item["product"]["category"]["products"]}
        assert skus == {"SKU-ON", "SKU-OFF"}
    # One-to-many the other way: a customer's orders, an order's items.
    nested = "query($id: ID!) { customers_by_id(id: $id) { orders { id order_items { id } } } }"
    data, errors = gql(w, "ann", nested, id=w.ids["ann"])
    assert data["customers_by_id"]["orders"] == [
        {"id": w.ids["order_ann"], "order_items": [{"id": w.ids["item_ann"]}]}
    ]
    data, errors = gql(w, "bob", nested, id=w.ids["ann"])
    assert data["customers_by_id"] is None and errors == []
    # A filter on a relation cannot reach past the rules either.
    smuggled = '{ orders(filter: "customer.email ~ \\"ann\\"") { items { id } } }'
    data, errors = gql(w, "bob", smuggled)
    assert data == {"orders": {"items": []}} or status(errors) == 400


WRITES = [
    # (who, REST method, REST path, body, GraphQL mutation, its variables)
    (
        "ann",
        "POST",
        "/api/categories",
        {"name": "X", "slug": "x"},
        'mutation { create_categories(data: {name: "X", slug: "x"}) { id } }',
        {},
    ),
    (
        "anonymous",
        "PATCH",
        "/api/products/{product_on}",
        {"stock": 1},
        "mutation($id: ID!) { update_products(id: $id, data: {stock: 1}) { id } }",
        {"id": "product_on"},
    ),
    (
        "ann",
        "DELETE",
        "/api/categories/{category}",
        None,
        "mutation($id: ID!) { delete_categories(id: $id) }",
        {"id": "category"},
    ),
    (
        "stan",
        "DELETE",
        "/api/categories/{category}",
        None,
        "mutation($id: ID!) { delete_categories(id: $id) }",
        {"id": "category"},
    ),
    (
        "bob",
        "PATCH",
        "/api/orders/{order_ann}",
        {"note": "mine now"},
        'mutation($id: ID!) { update_orders(id: $id, data: {note: "mine now"}) { id } }',
        {"id": "order_ann"},
    ),
    (
        "bob",
        "DELETE",
        "/api/orders/{order_ann}",
        None,
        "mutation($id: ID!) { delete_orders(id: $id) }",
        {"id": "order_ann"},
    ),
    (
        "ann",
        "DELETE",
        "/api/orders/{order_ann}",
        None,
        "mutation($id: ID!) { delete_orders(id: $id) }",
        {"id": "order_ann"},
    ),
    (
        "ann",
        "PATCH",
        "/api/customers/{ann}",
        {"role": "staff"},
        'mutation($id: ID!) { update_customers(id: $id, data: {role: "staff"}) { id } }',
        {"id": "ann"},
    ),
    (
        "ann",
        "PATCH",
        "/api/customers/{ann}",
        {"admin": True},
        "mutation($id: ID!) { update_customers(id: $id, data: {admin: true}) { id } }",
        {"id": "ann"},
    ),
    (
        "ann",
        "PATCH",
        "/api/customers/{ann}",
        {"tier": "gold"},
        'mutation($id: ID!) { update_customers(id: $id, data: {tier: "gold"}) { id } }',
        {"id": "ann"},
    ),
    (
        "ann",
        "POST",
        "/api/orders",
        {"customer": "{bob}"},
        "mutation($c: ID!) { create_orders(data: {customer: $c}) { id } }",
        {"c": "bob"},
    ),
    (
        "ann",
        "POST",
        "/api/orders",
        {"status": "paid"},
        'mutation { create_orders(data: {status: "paid"}) { id } }',
        {},
    ),
    (
        "ann",
        "PATCH",
        "/api/orders/{order_ann}",
        {"total": "0.00"},
        'mutation($id: ID!) { update_orders(id: $id, data: {total: "0.00"}) { id } }',
        {"id": "order_ann"},
    ),
    (
        "bob",
        "POST",
        "/api/order_items",
        {"order": "{order_ann}", "product": "{product_on}", "quantity": 1},
        "mutation($o: ID!, $p: ID!) { create_order_items(data: {order: $o, product: $p, "
        "quantity: 1}) { id } }",
        {"o": "order_ann", "p": "product_on"},
    ),
    (
        "ann",
        "PATCH",
        "/api/orders/{order_ann}",
        {"note": "x"},
        'mutation($id: ID!) { update_orders(id: $id, data: {note: "x"}, version: 99) { id } }',
        {"id": "order_ann"},
    ),
]


@pytest.mark.parametrize("write", range(len(WRITES)))
def test_writes_rest_refuses_graphql_refuses_alike(world, write):  # noqa: F811
    w = world
    who, method, path, body, mutation, variables = WRITES[write]
    ids = w.ids
    variables = {k: ids[v] for k, v in variables.items()}
    data, errors = gql(w, who, mutation, **variables)
    assert errors, f"GraphQL allowed {mutation!r} for {who}"
    assert data is None
    if body is not None:
        body = {
            k: ids[v[1:-1]] if isinstance(v, str) and v[1:-1] in ids else v for k, v in body.items()
        }
    headers = {"If-Match": '"99"'} if "version: 99" in mutation else {}
    rest = w.client.request(
        method, path.format(**ids), json=body, headers={**w.headers[who], **headers}
    )
    assert rest.status_code >= 400
    assert status(errors) == rest.status_code, (errors, rest.text)
    if rest.status_code == 422:
        assert errors[0]["extensions"]["errors"] == rest.json()["errors"]


def test_allowed_writes_go_through_the_store(world):  # noqa: F811
    w = world
    order = w.ids["order_ann"]
    mutation = (
        "mutation($id: ID!, $v: Int, $n: String) "
        "{ update_orders(id: $id, data: {note: $n}, version: $v) { note version total } }"
    )
    current = w.call("ann", "GET", f"/api/orders/{order}").json()["version"]
    data, errors = gql(w, "ann", mutation, id=order, v=current, n="leave at the door")
    assert errors == [] and data["update_orders"]["note"] == "leave at the door"
    # A hook computed the total when the item was added; the record read back carries it.
    assert data["update_orders"]["total"] == "5.00"
    version = data["update_orders"]["version"]
    data, errors = gql(w, "ann", mutation, id=order, v=version - 1, n="stale")
    assert status(errors) == 412
    made = gql(
        w,
        "ann",
        "mutation($o: ID!, $p: ID!) { create_order_items(data: "
        "{order: $o, product: $p, quantity: 2}) { unit_price order { total } } }",
        o=order,
        p=w.ids["product_on"],
    )[0]["create_order_items"]
    assert made == {"unit_price": "5.00", "order": {"total": "15.00"}}
    delete = "mutation($id: ID!) { delete_products(id: $id) }"
    data, errors = gql(w, "stan", delete, id=w.ids["product_off"])
    assert errors == [] and data == {"delete_products": w.ids["product_off"]}
    assert w.call("stan", "GET", f"/api/products/{w.ids['product_off']}").status_code == 404


def test_hidden_fields_are_not_in_the_schema_nor_any_answer(world):  # noqa: F811
    w = world
    for field in ("password_hash", "totp_secret"):
        data, errors = gql(w, "admin", f"{{ customers {{ items {{ {field} }} }} }}")
        assert data is None and "Cannot query field" in errors[0]["message"]
        probe = f'{{ customers(filter: "{field} ~ \\"a\\"") {{ items {{ id }} }} }}'
        data, errors = gql(w, "ann", probe)
        assert status(errors) == 400 and f"unknown field '{field}'" in errors[0]["message"]
    gql(w, "admin", "{ customers { items { id email name } } }")
    gql(
        w,
        "admin",
        "mutation($id: ID!) "
        '{ update_customers(id: $id, data: {password: "another one here"}) { id } }',
        id=w.ids["ann"],
    )
    text = "\n".join(w.texts)
    for secret in ('password_hash":', "$argon2", PASSWORD, "another one here"):
        assert secret not in text, secret


def test_a_query_may_follow_only_so_many_relations(world):  # noqa: F811
    branch = (
        "items { order { customer { orders(first: 1) { order_items(first: 1) "
        "{ product { category { name } } order { id } } } } } product { category { id } } }"
    )
    one = f"{{ order_items {{ {branch} }} }}"
    data, errors = gql(world, "admin", one)
    assert errors == [] and data["order_items"]["items"]
    # nine relations a root, thirty roots: more statements than one request may cost
    many = "{ " + " ".join(f"r{n}: order_items {{ {branch} }}" for n in range(30)) + " }"
    data, errors = gql(world, "admin", many)
    assert errors and errors[0]["extensions"]["code"] == "invalid-query"
    assert "follows relations more than" in errors[0]["message"]
