"""Explanations: for a caller and a record, which part of a rule admitted or refused it."""

from __future__ import annotations

PASSWORD = "a long enough password"


def test_admin_endpoint_explains_a_refusal_and_an_admission(shop, admin):
    ann = shop.post(
        "/api/auth/customers/signup",
        json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"},
    ).json()
    bob = shop.post(
        "/api/auth/customers/signup",
        json={"email": "bob@example.com", "password": PASSWORD, "name": "Bob"},
    ).json()
    order = shop.post(
        "/api/orders", json={}, headers={"Authorization": f"Bearer {ann['access_token']}"}
    ).json()
    params = {
        "collection": "orders",
        "operation": "view",
        "record": order["id"],
        "caller_collection": "customers",
    }
    as_bob = shop.get(
        "/api/admin/explain", params={**params, "caller": bob["record"]["id"]}, headers=admin
    ).json()
    assert as_bob["admitted"] is False
    assert as_bob["rule"] == 'customer = auth.id || auth.role = "staff"'
    assert [p["result"] for p in as_bob["parts"]] == [False, False]
    as_ann = shop.get(
        "/api/admin/explain", params={**params, "caller": ann["record"]["id"]}, headers=admin
    ).json()
    assert as_ann["admitted"] is True
    assert as_ann["parts"][0] == {"expression": "customer = auth.id", "result": True}
    anonymous = shop.get(
        "/api/admin/explain", params={"collection": "orders", "operation": "delete"}, headers=admin
    ).json()
    assert anonymous["admitted"] is False and "only admins" in anonymous["reason"]
    refused = shop.get(
        "/api/admin/explain",
        params=params,
        headers={"Authorization": f"Bearer {ann['access_token']}"},
    )
    assert refused.status_code == 403
