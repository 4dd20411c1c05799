"""Two customers order the last unit at the same moment: exactly one succeeds (the stock hook
locks the product inside each order item's transaction)."""

from __future__ import annotations

import threading

import httpx

PASSWORD = "a long enough password"
ROUNDS = 4


def test_two_concurrent_orders_for_the_last_unit(make_server, admin):
    server = make_server("shop.yaml")
    server.environment["BACKFORGE_RATE_LIMITS__AUTH"] = "1000/minute"
    server.start("--dev")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        category = client.post(
            "/api/categories", json={"name": "Maps", "slug": "maps"}, headers=admin
        ).json()
        buyers = []
        for who in ("ann", "bob"):
            tokens = client.post(
                "/api/auth/customers/signup",
                json={"email": f"{who}@example.com", "password": PASSWORD, "name": who},
            ).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            order = client.post("/api/orders", json={}, headers=headers).json()
            buyers.append((headers, order["id"]))
        for round_number in range(ROUNDS):
            product = client.post(
                "/api/products",
                json={
                    "name": f"Last {round_number}",
                    "sku": f"LAST-{round_number}",
                    "price": "9.00",
                    "stock": 1,
                    "category": category["id"],
                },
                headers=admin,
            ).json()
            barrier = threading.Barrier(len(buyers))
            statuses: list[int] = []

            def buy(headers, order_id, product_id=product["id"]):
                with httpx.Client(base_url=server.url, timeout=30) as own:
                    barrier.wait()
                    response = own.post(
                        "/api/order_items",
                        json={"order": order_id, "product": product_id, "quantity": 1},
                        headers=headers,
                    )
                    statuses.append(response.status_code)

            threads = [threading.Thread(target=buy, args=buyer) for buyer in buyers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(statuses) == [201, 409], statuses
            left = client.get(f"/api/products/{product['id']}", headers=admin).json()["stock"]
            assert left == 0
