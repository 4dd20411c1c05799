"""GraphQL at /graphql: statements bounded by the query's shape, many-to-many relations under
their rules, limits, paging, and the HTTP side (GET, POST, the console, the schema, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from asgi_client import SyncASGIClient
from backforge import App
from backforge.database import create_database_engine

# As tests/api/conftest.py serves every app (imported by name, `conftest` could be another's).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def gql(client, query: str, headers: dict | None = None, **variables: Any) -> dict[str, Any]:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=ADMIN if headers is None else headers,
    )
    assert response.headers["content-type"] == "application/json", response.text
    return response.json()


@pytest.fixture
def counted(db_url: str) -> Iterator[tuple[Any, list[str]]]:
    """The shop, and every SELECT its database runs."""
    engine = create_database_engine(db_url)
    statements: list[str] = []

    def keep(sql: str) -> None:
        # the queries' reads; not realtime's check for its log, from a thread of its own
        if sql.lstrip().upper().startswith("SELECT") and "_bf_realtime" not in sql:
            statements.append(sql)

    if engine.dialect.name == "sqlite":  # reads go straight to the driver: trace it
        event.listen(engine, "connect", lambda dbapi, _: dbapi.set_trace_callback(keep))
    else:
        event.listen(engine, "before_cursor_execute", lambda _c, _k, sql, *_: keep(sql))
    app = App.from_file(EXAMPLES / "shop.yaml", engine, admin_token=ADMIN_TOKEN)
    app.store.metadata.create_all(engine)
    try:
        with SyncASGIClient(app) as client:
            yield client, statements
    finally:
        engine.dispose()


def _add_orders(client, categories: int, customers: int, tag: str) -> None:
    products = []
    for c in (f"{tag}{n}" for n in range(categories)):
        category = client.post(
            "/api/categories", json={"name": f"C{c}", "slug": f"c{c}"}, headers=ADMIN
        ).json()["id"]
        for p in range(2):
            body = {"name": "P", "sku": f"SKU-{c.upper()}-{p}", "price": "2.50", "stock": 100}
            body["category"] = category
            products.append(client.post("/api/products", json=body, headers=ADMIN).json()["id"])
    for n in (f"{tag}{n}" for n in range(customers)):
        body = {"email": f"c{n}@example.com", "name": f"C{n}", "password": "long enough pass"}
        customer = client.post("/api/customers", json=body, headers=ADMIN).json()["id"]
        order = client.post("/api/orders", json={"customer": customer}, headers=ADMIN).json()
        for product in products:
            body = {"order": order["id"], "product": product, "quantity": 1}
            made = client.post("/api/order_items", json=body, headers=ADMIN)
            assert made.status_code == 201, made.text


TWO_LEVELS = """{ order_items(first: 200) { total items { id
    order { id customer { name } }
    product { sku category { name } } } } }"""


def test_two_levels_of_relations_cost_one_statement_per_relation_whatever_the_rows(counted):
    client, statements = counted
    _add_orders(client, categories=1, customers=1, tag="a")
    statements.clear()
    small = gql(client, TWO_LEVELS)
    few = len(statements)
    # the page, its total, and one statement for each of order, customer, product, category
    assert few <= 6, statements
    _add_orders(client, categories=3, customers=4, tag="b")
    statements.clear()
    large = gql(client, TWO_LEVELS)
    assert len(statements) == few, statements
    assert small["data"]["order_items"]["total"] == 2
    items = large["data"]["order_items"]["items"]
    assert large["data"]["order_items"]["total"] == len(items) == 2 + 4 * 6
    assert all(i["order"]["customer"]["name"] and i["product"]["category"]["name"] for i in items)
    # the other way round too: categories -> products -> (order items -> order)
    statements.clear()
    reverse = gql(
        client,
        "{ categories { items { name products { sku order_items(first: 3) { order { id } } } } } }",
    )
    assert "errors" not in reverse, reverse
    assert len(statements) <= 4, statements
    assert all(
        len(p["order_items"]) == 3
        for c in reverse["data"]["categories"]["items"][:3]
        for p in c["products"]
    )


LIBRARY = {
    "name": "library",
    "collections": {
        "readers": {
            "auth": True,
            "fields": {"name": {"type": "text", "required": True}},
            "relations": {"borrowed": {"to": "books", "through": "loans"}},
            "rules": {"list": "auth.id != null", "view": "auth.id != null"},
        },
        "tags": {
            "fields": {
                "name": {"type": "text", "required": True, "unique": True},
                "secret": {"type": "bool", "required": True, "default": False},
            },
            "rules": {"list": "secret = false", "view": "secret = false", "create": "public"},
        },
        "books": {
            "fields": {"title": {"type": "text", "required": True}},
            "relations": {"tags": {"to": "tags", "key": "name"}},
            "rules": {"list": "public", "view": "public", "create": "auth.id != null"},
        },
        "loans": {
            "fields": {
                "reader": {"type": "relation", "to": "readers", "required": True},
                "book": {"type": "relation", "to": "books", "required": True},
            },
            "rules": {"list": "reader = auth.id", "view": "reader = auth.id"},
        },
    },
}


@pytest.fixture
def library(make_client):
    return make_client(LIBRARY)


def test_many_to_many_relations_show_only_what_the_caller_may_view(library):
    client = library
    for name, secret in (("poetry", False), ("banned", True)):
        client.post("/api/tags", json={"name": name, "secret": secret}, headers=ADMIN)
    book = gql(
        client,
        'mutation { create_books(data: {title: "Odes", tags: ["poetry", "banned"]}) '
        "{ id tags { name } } }",
    )["data"]["create_books"]
    # The admin sees both tags; anyone else the one that is not secret.
    assert [t["name"] for t in book["tags"]] == ["poetry", "banned"]
    public = gql(client, "{ books { items { title tags { name } } } }", headers={})
    assert public["data"]["books"]["items"] == [{"title": "Odes", "tags": [{"name": "poetry"}]}]
    tokens = {}
    for who in ("rita", "sam"):
        body = {"email": f"{who}@example.com", "password": "long enough pass", "name": who}
        signed = client.post("/api/auth/readers/signup", json=body).json()
        tokens[who] = ({"Authorization": f"Bearer {signed['access_token']}"}, signed["record"])
    rita = tokens["rita"][1]["id"]
    client.post("/api/loans", json={"reader": rita, "book": book["id"]}, headers=ADMIN)
    query = '{ readers(sort: "name") { items { name borrowed { title } } } }'
    # A loan is seen by its reader only: sam sees rita, not what she borrowed.
    seen = gql(client, query, headers=tokens["sam"][0])["data"]["readers"]["items"]
    assert seen == [{"name": "rita", "borrowed": []}, {"name": "sam", "borrowed": []}]
    seen = gql(client, query, headers=tokens["rita"][0])["data"]["readers"]["items"]
    assert seen[0] == {"name": "rita", "borrowed": [{"title": "Odes"}]}
    # And the other way: a book's loans (a relation field pointing at books), by the same rule.
    loans = "{ books { items { loans { reader { name } } } } }"
    assert gql(client, loans, headers=tokens["rita"][0])["data"]["books"]["items"] == [
        {"loans": [{"reader": {"name": "rita"}}]}
    ]
    assert gql(client, loans, headers=tokens["sam"][0])["data"]["books"]["items"] == [{"loans": []}]


def test_pages_follow_cursors_and_refuse_a_first_out_of_range(shop):
    for n in range(5):
        shop.post("/api/categories", json={"name": f"N{n}", "slug": f"n{n}"}, headers=ADMIN)
    names, after = [], None
    query = (
        'query($a: String) { categories(first: 2, sort: "name", after: $a) '
        "{ items { name } next_cursor } }"
    )
    while True:
        page = gql(shop, query, a=after)["data"]["categories"]
        names += [c["name"] for c in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert names == ["N0", "N1", "N2", "N3", "N4"]
    for first in (0, 10_000):
        answer = gql(shop, f"{{ categories(first: {first}) {{ items {{ id }} }} }}")
        assert answer["errors"][0]["extensions"] == {
            "code": "invalid-query",
            "status": 400,
            "parameter": "first",
        }
    cursor = gql(shop, '{ categories(after: "bogus") { items { id } } }')
    assert cursor["errors"][0]["extensions"]["parameter"] == "cursor"


def test_limits_refuse_deep_wide_and_costly_queries_before_reading(shop):
    deep = "{ order_items { items { " + "order { customer { orders { order_items { " * 3
    deep += "id" + " } } } }" * 3 + " } } }"
    answer = shop.post("/graphql", json={"query": deep}, headers=ADMIN)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-deep"
    aliases = "{ " + " ".join(f"a{n}: categories {{ total }}" for n in range(31)) + " }"
    answer = shop.post("/graphql", json={"query": aliases}, headers=ADMIN)
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-many-aliases"
    costly = (
        "{ categories(first: 200) { items { products(first: 200) { order_items(first: 200) "
        "{ id } } } } }"
    )
    answer = shop.post("/graphql", json={"query": costly}, headers=ADMIN)
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-complex"
    # the same through a variable
    costly = (
        "query($n: Int) { categories(first: $n) { items { products(first: $n) { "
        "order_items(first: $n) { id } } } } }"
    )
    answer = shop.post("/graphql", json={"query": costly, "variables": {"n": 100}}, headers=ADMIN)
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-complex"
    # a default the client leaves to the server counts as much as one it sends
    costly = costly.replace("query($n: Int)", "query($n: Int = 100)")
    answer = shop.post("/graphql", json={"query": costly}, headers=ADMIN)
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-complex"
    # fragments spreading fragments are measured once each, not expanded: 2^30 spreads are
    # counted (and refused) without being walked
    bomb = "".join(f"fragment F{n} on Categories {{ ...F{n + 1} ...F{n + 1} }} " for n in range(30))
    bomb += "fragment F30 on Categories { name } { categories { items { ...F0 } } }"
    answer = shop.post("/graphql", json={"query": bomb}, headers=ADMIN)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-complex"
    # aliases inside introspection would multiply the schema's size: refused there
    amplified = "{ __schema { " + " ".join(f"t{n}: types {{ name }}" for n in range(3)) + " } }"
    answer = shop.post("/graphql", json={"query": amplified})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "too-many-aliases"
    huge = "{ " + "categories { total } " * 3000 + "}"
    answer = shop.post("/graphql", json={"query": huge}, headers=ADMIN)
    assert answer.status_code == 400 and "token" in answer.json()["errors"][0]["message"]


INTROSPECTION = """query { __schema { queryType { name } types { name kind fields { name
  type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name } } } } } } } } } }"""


def test_introspection_is_served_unless_switched_off(make_client):
    notes = {
        "name": "notes",
        "collections": {
            "notes": {
                "fields": {"text": {"type": "text"}},
                "rules": {"list": "public", "view": "public"},
            }
        },
    }
    client = make_client(notes)
    schema = gql(client, INTROSPECTION, headers={})["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert {"Notes", "NotesPage"} <= {t["name"] for t in schema["types"]}
    closed = make_client({**notes, "server": {"graphql": {"introspection": False}}})
    answer = closed.post("/graphql", json={"query": INTROSPECTION})
    assert answer.status_code == 400
    assert "introspection" in answer.json()["errors"][0]["message"]
    assert gql(closed, "{ notes { total } }", headers={}) == {"data": {"notes": {"total": 0}}}
    assert closed.get("/graphql?schema").status_code == 400  # nor printed
    off = make_client({**notes, "server": {"graphql": {"enabled": False}}})
    assert off.post("/graphql", json={"query": "{ notes { total } }"}).status_code == 404


def test_http_side(shop):
    answer = shop.get("/graphql", params={"query": "{ categories { total } }"})
    assert answer.status_code == 200 and answer.json() == {"data": {"categories": {"total": 0}}}
    mutation = 'mutation { create_categories(data: {name: "A", slug: "a"}) { id } }'
    refused = shop.get("/graphql", params={"query": mutation}, headers=ADMIN)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert shop.get("/api/categories").json()["items"] == []
    console = shop.get("/graphql", headers={"Accept": "text/html"})
    assert console.status_code == 200 and "docs/graphiql/graphiql.min.js" in console.text
    assert "script-src 'self'" in console.headers["content-security-policy"]
    for asset in ("graphiql/graphiql.min.js", "graphiql/react.production.min.js", "graphiql.js"):
        assert shop.get(f"/docs/{asset}").status_code == 200, asset
    sdl = shop.get("/graphql?schema")
    assert sdl.status_code == 200 and "type Products {" in sdl.text
    assert "password_hash" not in sdl.text and "totp_secret" not in sdl.text
    for body, status in (
        (b"{not json", 400),
        (b'["a list"]', 400),
        (b'{"query": 12}', 400),
        (b'{"query": "{ categories { total } }", "variables": [1]}', 400),
        (b'{"query": "query A { categories { total } } query B { products { total } }"}', 400),
        (b'{"query": "{ nope }"}', 400),
        (b'{"query": "{ categories { total "}', 400),
    ):
        answer = shop.post("/graphql", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == status, (body, answer.text)
    plain = shop.post("/graphql", content=b"{ categories { total } }")
    assert plain.status_code == 415
    bad_token = shop.post(
        "/graphql",
        json={"query": "{ categories { total } }"},
        headers={"Authorization": "Bearer nonsense"},
    )
    assert bad_token.status_code == 401
    assert bad_token.headers["content-type"] == "application/problem+json"


GUARDED = {
    "name": "guarded",
    "collections": {
        "people": {
            "fields": {"name": {"type": "text", "required": True}},
            "relations": {
                "ghostwritten": {"to": "posts", "via": "ghost"},
                "tagged": {
                    "to": "tags",
                    "through": "post_tags",
                    "through_fields": ["person", "tag"],
                },
            },
            "rules": {"list": "public", "view": "public"},
        },
        "invites": {  # anyone may open one by its id; nobody but admins may list them
            "fields": {
                "code": {"type": "text", "required": True, "unique": True},
                "person": {"type": "relation", "to": "people"},
            },
            "rules": {"view": "public"},
        },
        "posts": {
            "fields": {
                "title": {"type": "text", "required": True},
                "reviewer": {"type": "relation", "to": "people", "read": "auth.id = reviewer"},
                "ghost": {"type": "relation", "to": "people", "hidden": True},
            },
            "rules": {"list": "public", "view": "public"},
        },
        "tags": {
            "fields": {"name": {"type": "text", "required": True}},
            "rules": {"list": "public", "view": "public"},
        },
        "post_tags": {
            "fields": {
                "person": {"type": "relation", "to": "people", "required": True},
                "tag": {"type": "relation", "to": "tags", "required": True, "read": "false"},
            },
            "rules": {"list": "public", "view": "public"},
        },
    },
}


def test_relations_follow_only_links_the_caller_may_read_and_list(make_client):
    client = make_client(GUARDED)
    person = client.post("/api/people", json={"name": "alice"}, headers=ADMIN).json()["id"]
    client.post("/api/invites", json={"code": "INV-1", "person": person}, headers=ADMIN)
    made = client.post("/api/posts", json={"title": "t", "reviewer": person}, headers=ADMIN)
    assert made.status_code == 201, made.text
    tag = client.post("/api/tags", json={"name": "secret"}, headers=ADMIN).json()["id"]
    client.post("/api/post_tags", json={"person": person, "tag": tag}, headers=ADMIN)
    assert client.get("/api/invites").status_code == 403  # listing is refused over REST...
    query = (
        "query($id: ID!) { people_by_id(id: $id) "
        "{ invites { code } posts_by_reviewer: posts { id } tagged { name } } }"
    )
    seen = gql(client, query, headers={}, id=person)
    # ...so through a relation too; the reviewer is hidden from this caller by its read rule,
    # and the tag link by the through collection's
    assert seen["data"]["people_by_id"] == {"invites": [], "posts_by_reviewer": [], "tagged": []}
    as_admin = gql(client, query, id=person)["data"]["people_by_id"]
    assert as_admin["tagged"] == [{"name": "secret"}] and len(as_admin["posts_by_reviewer"]) == 1
    schema = client.get("/graphql?schema").text
    assert "ghostwritten" not in schema  # a relation through a hidden field is not offered
    # A lookup by a unique field is a filtered list: refused where listing is.
    probe = gql(client, '{ invites_by_code(code: "INV-1") { code } }', headers={})
    assert probe["data"] == {"invites_by_code": None}
    assert probe["errors"][0]["extensions"]["status"] == 403


def test_rest_filters_follow_only_links_the_caller_may_read(make_client):
    """The same links through REST's filter language: a path through a relation field its read
    rule hides, and any() over a relation through a hidden field, find nothing for the caller."""
    client = make_client(GUARDED)
    person = client.post("/api/people", json={"name": "alice"}, headers=ADMIN).json()["id"]
    made = client.post("/api/posts", json={"title": "t", "reviewer": person}, headers=ADMIN)
    assert made.status_code == 201, made.text
    by_reviewer = {"filter": 'reviewer.name = "alice"'}
    assert client.get("/api/posts", params=by_reviewer).json()["items"] == []
    assert len(client.get("/api/posts", params=by_reviewer, headers=ADMIN).json()["items"]) == 1
    ghost = client.get("/api/people", params={"filter": "any(ghostwritten, id != null)"})
    assert ghost.status_code == 400


def test_persisted_queries_run_by_their_hash_once_known(shop):
    import hashlib

    query = "{ categories { total } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    unknown = shop.post("/graphql", json={"extensions": persisted})
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    sent = shop.post("/graphql", json={"query": query, "extensions": persisted})
    assert sent.json() == {"data": {"categories": {"total": 0}}}
    # now the hash alone, also as a short GET
    assert shop.post("/graphql", json={"extensions": persisted}).json() == sent.json()
    by_get = shop.get("/graphql", params={"extensions": json.dumps(persisted)})
    assert by_get.json() == sent.json()
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    mismatch = shop.post("/graphql", json={"query": query, "extensions": wrong})
    assert mismatch.status_code == 400
    malformed = shop.post("/graphql", json={"extensions": {"persistedQuery": "x"}})
    assert malformed.status_code == 400
