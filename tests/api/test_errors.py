"""Every failure is problem+json with a stable type: 400 to 415, 422 and 503."""

from __future__ import annotations

import pytest
from sqlalchemy import text

PROBLEM = "application/problem+json"


def _category(client, admin, slug="books"):
    response = client.post(
        "/api/categories", json={"name": slug.title(), "slug": slug}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


def _assert_problem(response, status, kind):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:backforge:problem:{kind}"
    assert body["title"] and body["detail"]
    for leak in ("Traceback", "SELECT", "INSERT", "sqlalchemy", "psycopg", "sqlite3"):
        assert leak not in response.text
    return body


def test_unknown_path_and_record_are_404(shop):
    _assert_problem(shop.get("/api/nothing"), 404, "not-found")
    _assert_problem(shop.get("/api/categories/abcdefghijklmno"), 404, "not-found")
    _assert_problem(shop.get("/api/categories/not-an-id"), 404, "not-found")


def test_wrong_method_is_405(shop):
    body = _assert_problem(shop.put("/api/categories", json={}), 405, "method-not-allowed")
    assert "PUT" in body["detail"]


def test_bad_query_is_400_with_position(shop):
    body = _assert_problem(
        shop.get("/api/products", params={"filter": "price > "}), 400, "invalid-query"
    )
    assert body["parameter"] == "filter" and body["position"] == 8
    body = _assert_problem(
        shop.get("/api/products", params={"sort": "-nope"}), 400, "invalid-query"
    )
    assert body["parameter"] == "sort" and "nope" in body["detail"]
    _assert_problem(shop.get("/api/products", params={"limit": "0"}), 400, "invalid-query")
    _assert_problem(shop.get("/api/products", params={"limit": "100000"}), 400, "invalid-query")
    _assert_problem(shop.get("/api/products", params={"cursor": "garbage!"}), 400, "invalid-query")
    _assert_problem(shop.get("/api/products", params={"colour": "red"}), 400, "invalid-query")
    _assert_problem(shop.get("/api/products?limit=1&limit=2"), 400, "invalid-query")
    _assert_problem(shop.get("/api/products", params={"expand": "name"}), 400, "invalid-query")
    _assert_problem(shop.get("/api/products", params={"fields": "id,secret"}), 400, "invalid-query")


def test_admin_only_collection_is_403_for_anonymous(make_client, admin):
    client = make_client(
        {"name": "closed", "collections": {"vault": {"fields": {"x": {"type": "int"}}}}}
    )
    _assert_problem(client.get("/api/vault"), 403, "forbidden")
    _assert_problem(client.post("/api/vault", json={"x": 1}), 403, "forbidden")
    record = client.post("/api/vault", json={"x": 1}, headers=admin).json()
    # One record that the caller may not see: 404, as if it did not exist.
    _assert_problem(client.get(f"/api/vault/{record['id']}"), 404, "not-found")
    _assert_problem(client.delete(f"/api/vault/{record['id']}"), 404, "not-found")


def test_unique_violation_is_409(shop, admin):
    _category(shop, admin)
    body = _assert_problem(
        shop.post("/api/categories", json={"name": "Other", "slug": "books"}, headers=admin),
        409,
        "conflict",
    )
    assert body["field"] == "slug"


def test_deleting_a_referenced_record_is_409(shop, admin):
    category = _category(shop, admin)
    product = {"name": "Atlas", "sku": "ATL-1", "price": 10, "category": category["id"]}
    assert shop.post("/api/products", json=product, headers=admin).status_code == 201
    body = _assert_problem(
        shop.delete(f"/api/categories/{category['id']}", headers=admin), 409, "conflict"
    )
    assert "products.category" in body["detail"]  # which relation holds it, so the fix is clear
    assert shop.get(f"/api/categories/{category['id']}").status_code == 200
    # Once nothing refers to it, it goes.
    listed = shop.get("/api/products", headers=admin).json()["items"]
    assert shop.delete(f"/api/products/{listed[0]['id']}", headers=admin).status_code == 204
    assert shop.delete(f"/api/categories/{category['id']}", headers=admin).status_code == 204


def test_stale_if_match_is_412_and_current_one_applies(shop, admin):
    category = _category(shop, admin)
    url = f"/api/categories/{category['id']}"
    ok = shop.patch(url, json={"description": "one"}, headers={**admin, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"' and ok.json()["version"] == 2
    stale = shop.patch(url, json={"description": "two"}, headers={**admin, "If-Match": '"1"'})
    _assert_problem(stale, 412, "precondition-failed")
    weak = shop.patch(url, json={"description": "two"}, headers={**admin, "If-Match": 'W/"2"'})
    _assert_problem(weak, 412, "precondition-failed")
    _assert_problem(
        shop.delete(url, headers={**admin, "If-Match": '"1"'}), 412, "precondition-failed"
    )
    assert shop.get(url).json()["description"] == "one"
    assert shop.delete(url, headers={**admin, "If-Match": '"2"'}).status_code == 204
    assert shop.get(url).status_code == 404


def test_get_returns_the_version_as_etag(shop, admin):
    category = _category(shop, admin)
    response = shop.get(f"/api/categories/{category['id']}")
    assert response.headers["etag"] == '"1"'


def test_oversized_body_is_413(shop, admin):
    body = b'{"name": "' + b"x" * 2_000_000 + b'", "slug": "x"}'
    response = shop.post(
        "/api/categories", content=body, headers={**admin, "content-type": "application/json"}
    )
    _assert_problem(response, 413, "too-large")


def test_wrong_content_type_is_415(shop, admin):
    response = shop.post(
        "/api/categories",
        content=b"name=x",
        headers={**admin, "content-type": "application/x-www-form-urlencoded"},
    )
    _assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'"text"', b"", b"null"])
def test_malformed_json_is_422(shop, admin, payload):
    response = shop.post(
        "/api/categories", content=payload, headers={**admin, "content-type": "application/json"}
    )
    body = _assert_problem(response, 422, "validation")
    assert body["errors"]


def test_database_gone_is_503_not_500(shop, admin, db_url):
    _category(shop, admin)
    store = shop._async._transport.app.store  # the App under test
    if store.engine.dialect.name == "sqlite":
        with store.engine.begin() as connection:
            connection.execute(text("DROP TABLE categories"))
        # A missing table is a broken deployment, not a client error: still no trace leaks.
        response = shop.get("/api/categories")
        assert response.status_code == 500
        assert "categories" not in response.json()["detail"]
        return
    store.engine.dispose()
    store.engine.pool._creator = _refuse  # every new connection now fails like a stopped server
    # Requests' own calls go through asyncpg on the event loop: their engine is made anew
    # (the old one is dropped), for a port where no server listens.
    store.loop.url = store.loop.url.set(port=1)
    store.loop._loops.clear()
    body = _assert_problem(shop.get("/api/categories"), 503, "unavailable")
    assert shop.get("/api/categories").headers.get("retry-after") == "1"
    assert "nothing was written" in body["detail"]
    created = shop.post("/api/categories", json={"name": "Lost", "slug": "lost"}, headers=admin)
    _assert_problem(created, 503, "unavailable")


def _refuse(*_args, **_kwargs):
    import psycopg

    raise psycopg.OperationalError("connection refused: the server is not running")


def test_malformed_if_match_is_400(shop, admin):
    category = _category(shop, admin)
    url = f"/api/categories/{category['id']}"
    for header in ("nonsense", '"abc"', "", '"99999999999999999999"'):
        response = shop.patch(url, json={"description": "x"}, headers={**admin, "If-Match": header})
        _assert_problem(response, 400, "invalid-header")
    assert shop.get(url).json()["version"] == 1


def test_selected_fields_always_carry_the_id(shop, admin):
    category = _category(shop, admin)
    listed = shop.get("/api/categories", params={"fields": "name"}).json()["items"]
    assert listed == [{"id": category["id"], "name": category["name"]}]
    assert shop.get("/api/categories", params={"fields": ""}).json()["items"][0] == category


def test_a_forged_cursor_with_a_nul_is_a_400(shop, admin):
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps(["name,id", "a\u0000", "x" * 15]).encode())
    response = shop.get(
        "/api/categories", params={"sort": "name", "cursor": forged.decode().rstrip("=")}
    )
    _assert_problem(response, 400, "invalid-query")
