"""The projection (graphql/projection.py) answers what graphql-core's executor answers: every
query below runs both ways, as several callers, and the two bodies must be equal — data,
errors, their paths and codes — including aliases, fragments, __typename, nulls, relation ids,
to-many arguments, failed root fields and documents the projection leaves to graphql-core."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from backforge import App
from backforge.database import create_database_engine
from backforge.graphql.answers import Answer
from backforge.graphql.service import GraphQLService
from backforge.spec.server import GraphQL
from backforge.store.caller import ADMIN, ANONYMOUS, Caller

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

QUERIES = [
    "{ products { total next_cursor items { id name price stock active category_id } } }",
    '{ products(sort: "name", first: 1) { items { name } next_cursor } }',
    "{ a: products { items { n: name, category { s: slug, __typename } } } b: categories "
    "{ total } }",
    "fragment P on Products { sku category { ...C } } fragment C on Categories { name "
    'products(sort: "-sku") { sku } } { products { items { ...P ... on Products { id } } } }',
    "{ order_items { items { quantity order { status customer { name email } } product "
    "{ sku } } } }",
    "query($id: ID!) { orders_by_id(id: $id) { id total customer_id order_items(first: 1) "
    "{ id } } }",
    '{ customers(filter: "name ~ \\"a\\"") { items { name orders { total } } } }',
    '{ products(filter: "nonsense ==") { total } categories { total } }',
    "{ products(first: 0) { total } }",
    '{ categories_by_slug(slug: "maps") { name __typename } nothing: products_by_id(id: '
    '"nope") { id } }',
    "{ products { items { name @include(if: false) sku } } }",  # left to graphql-core
    "{ __typename products { total } }",
    "{ products { a: items { c: category { id name } } b: items { c: order_items(first: 1) "
    "{ id quantity } } } }",
    "{ a: products(first: 0) { total } b: categories(first: 0) { total } }",
]


@pytest.fixture
def shop_service(db_url: str) -> Iterator[tuple[GraphQLService, dict[str, Caller], dict]]:
    engine = create_database_engine(db_url)
    app = App.from_file(EXAMPLES / "shop.yaml", engine, admin_token="t" * 32)
    app.store.metadata.create_all(engine)
    store = app.store
    category = store.create("categories", ADMIN, {"name": "Maps", "slug": "maps"})
    products = {}
    for sku, active in (("SKU-ON", True), ("SKU-OFF", False)):
        body = {"name": sku.lower(), "sku": sku, "price": "2.50", "active": active, "stock": 9}
        products[sku] = store.create("products", ADMIN, {**body, "category": category["id"]})
    callers = {"admin": ADMIN, "anonymous": ANONYMOUS}
    ids = {}
    for name in ("ann", "bob"):
        body = {"email": f"{name}@example.com", "name": name, "password": "p" * 12}
        account = store.create("customers", ADMIN, body)
        callers[name] = Caller(id=account["id"], collection="customers")
        ids[name] = store.create("orders", callers[name], {"note": name})["id"]
        item = {"order": ids[name], "product": products["SKU-ON"]["id"], "quantity": 2}
        store.create("order_items", callers[name], item)
    try:
        yield GraphQLService(store, GraphQL()), callers, ids
    finally:
        engine.dispose()


def _both(service: GraphQLService, caller: Caller, query: str, **variables) -> tuple:
    prepared = service.prepare(query, variables, None)
    if isinstance(prepared, Answer):
        return prepared.body, prepared.body
    projected = service.run(caller, prepared)
    executed = service.run(caller, dataclasses.replace(prepared, plan=None))
    return projected.body, executed.body


@pytest.mark.parametrize("query", QUERIES)
def test_the_projection_answers_what_graphql_core_answers(shop_service, query):
    service, callers, ids = shop_service
    for who, caller in callers.items():
        projected, executed = _both(service, caller, query, id=ids["ann"])
        assert projected == executed, who


def test_the_projection_leaves_directives_and_introspection_to_graphql_core(shop_service):
    service, _, _ = shop_service
    for query in (
        "{ products { items { name @include(if: false) sku } } }",
        "{ __schema { queryType { name } } }",
    ):
        prepared = service.prepare(query, {}, None)
        assert not isinstance(prepared, Answer) and prepared.plan is None
    assert service.prepare(QUERIES[0], {}, None).plan is not None


def test_failed_mutations_answer_alike(shop_service):
    service, callers, ids = shop_service
    for query in (
        'mutation { create_categories(data: {name: ""}) { id } }',
        'mutation { a: create_categories(data: {name: "X", slug: "x"}) { id } '
        'b: create_categories(data: {name: "X", slug: "x"}) { id } }',  # the second conflicts
        "mutation($id: ID!) { delete_orders(id: $id) }",
        'mutation($id: ID!) { update_orders(id: $id, data: {note: "n"}, version: 77) { id } }',
    ):
        for who in ("anonymous", "bob"):
            projected, executed = _both(service, callers[who], query, id=ids["ann"])
            assert projected == executed, (who, query)
            assert projected["data"] is None and projected["errors"]
