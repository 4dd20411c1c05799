"""Numbers in queries, headers and decimal strings are ASCII digits: str.isdigit() also admits
'³' (which int() refuses: a 500) and '٣' (which int() reads as 3: silently accepted)."""

from __future__ import annotations

import pytest

from backforge.jobs.webhooks import sign, verify

# '³' (superscript three), '٣' (Arabic-Indic three), U+FF13 (fullwidth three), and ASCII look-alikes
# that int() would take.
NOT_ASCII_DIGITS = ("%C2%B3", "%D9%A3", "%EF%BC%93", "+3", "%203", "3%20", "3_0", "0x3")


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"urn:backforge:problem:{kind}"
    return body


def test_limit_is_ascii_digits_only(shop, admin):
    for slug in ("a", "b", "c", "d"):
        created = shop.post("/api/categories", json={"name": slug, "slug": slug}, headers=admin)
        assert created.status_code == 201, created.text
    assert len(shop.get("/api/categories?limit=3").json()["items"]) == 3
    for value in NOT_ASCII_DIGITS:
        body = _problem(shop.get(f"/api/categories?limit={value}"), 400, "invalid-query")
        assert body["parameter"] == "limit", value


def test_a_limit_longer_than_int_converts_is_a_400(make_client):
    declaration = {
        "name": "long",
        "collections": {"notes": {"rules": {"list": "public"}}},
        "server": {"limits": {"max_query_length": 65536}},
    }
    client = make_client(declaration)
    response = client.get(f"/api/notes?limit={'9' * 5000}")  # int() converts 4300 digits
    assert _problem(response, 400, "invalid-query")["parameter"] == "limit"


def test_numbers_in_filters_are_ascii_digits(shop, admin):
    assert shop.get("/api/products", params={"filter": "stock > 3"}).status_code == 200
    for three in ("\u0663", "\uff13", "\u00b3"):
        response = shop.get("/api/products", params={"filter": f"stock > {three}"})
        _problem(response, 400, "invalid-query")


def test_decimal_strings_are_ascii_digits(shop, admin):
    body = {"name": "Atlas", "sku": "SKU-1", "price": "\u0663.50"}
    response = shop.post("/api/products", json=body, headers=admin)
    problem = _problem(response, 422, "validation")
    assert [e["path"] for e in problem["errors"]] == ["/price"]
    assert (
        shop.post("/api/products", json={**body, "price": "3.50"}, headers=admin).json()["price"]
        == "3.50"
    )


def test_if_match_versions_are_ascii_digits(shop, admin):
    created = shop.post("/api/categories", json={"name": "A", "slug": "a"}, headers=admin)
    url = f"/api/categories/{created.json()['id']}"
    for tag in ('"\u0661"', '"\u00b9"', '"\uff11"', '" 1"', '"+1"'):
        response = shop.patch(url, json={"name": "B"}, headers={**admin, "If-Match": tag.encode()})
        _problem(response, 400, "invalid-header")
    assert shop.get(url).json()["version"] == 1


@pytest.mark.parametrize("length", [b"\xb3", b"\xb9", b"9" * 5000])
def test_a_content_length_that_is_not_ascii_digits_is_not_a_500(shop, admin, length):
    response = shop.post(
        "/api/categories",
        content=b'{"name": "A", "slug": "a"}',
        headers={**admin, "content-type": "application/json", "content-length": length},
    )
    assert response.status_code < 500, response.text


def test_the_jobs_admin_limit_is_ascii_digits_only(make_client, admin):
    declaration = {
        "name": "hooked",
        "collections": {"orders": {"fields": {"note": {"type": "text"}}}},
        "webhooks": {"paid": {"on": "orders.create", "url_env": "HOOK_URL", "secret_env": "S"}},
    }
    client = make_client(declaration)
    assert client.get("/api/admin/jobs?limit=3", headers=admin).status_code == 200
    for value in NOT_ASCII_DIGITS:
        response = client.get(f"/api/admin/jobs?limit={value}", headers=admin)
        _problem(response, 400, "invalid-query")


def test_webhook_timestamps_are_ascii_digits():
    import time

    body = b"{}"
    now = str(int(time.time()))
    assert verify("secret", now, body, sign("secret", now, body))
    arabic = now.translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    for timestamp in (arabic, f" {now}", f"+{now}", "9" * 5000):
        assert not verify("secret", timestamp, body, sign("secret", timestamp, body))
