"""`backforge serve examples/shop.yaml` as a real process: the whole record life cycle over HTTP."""

from __future__ import annotations

import subprocess
import sys

import httpx


def test_shop_over_http(make_server, admin):
    server = make_server("shop.yaml").start("--dev")
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as client:
        books = client.post("/api/categories", json={"name": "Books", "slug": "books"}).json()
        maps = client.post("/api/categories", json={"name": "Maps", "slug": "maps"}).json()
        products = []
        for i, (name, price, category) in enumerate(
            [
                ("Atlas", "35.00", maps),
                ("Novel", "12.50", books),
                ("Guide", "20.00", books),
                ("Globe", "80.00", maps),
                ("Poems", "9.99", books),
            ]
        ):
            response = client.post(
                "/api/products",
                json={
                    "name": name,
                    "sku": f"SKU-{i}",
                    "price": price,
                    "category": category["id"],
                    "stock": i * 3,
                },
            )
            assert response.status_code == 201, response.text
            assert response.headers["location"] == f"/api/products/{response.json()['id']}"
            products.append(response.json())

        listed = client.get("/api/products", params={"sort": "-price", "total": "true"}).json()
        assert [p["name"] for p in listed["items"]] == ["Globe", "Atlas", "Guide", "Novel", "Poems"]
        assert listed["total"] == 5

        filtered = client.get(
            "/api/products",
            params={"filter": 'price < 25 && category.slug = "books"', "sort": "name"},
        ).json()
        assert [p["name"] for p in filtered["items"]] == ["Guide", "Novel", "Poems"]

        first = client.get("/api/products", params={"limit": 2, "sort": "name"}).json()
        second = client.get(
            "/api/products", params={"limit": 2, "sort": "name", "cursor": first["next_cursor"]}
        ).json()
        assert [p["name"] for p in first["items"] + second["items"]] == [
            "Atlas",
            "Globe",
            "Guide",
            "Novel",
        ]

        expanded = client.get(f"/api/products/{products[0]['id']}", params={"expand": "category"})
        assert expanded.json()["expand"]["category"]["slug"] == "maps"

        url = f"/api/products/{products[0]['id']}"
        etag = client.get(url).headers["etag"]
        changed = client.patch(url, json={"stock": 99}, headers={"If-Match": etag})
        assert changed.status_code == 200 and changed.json()["stock"] == 99
        stale = client.patch(url, json={"stock": 1}, headers={"If-Match": etag})
        assert stale.status_code == 412

        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404
        assert httpx.get(server.url + "/docs").status_code == 200


def test_serve_refuses_a_database_behind_the_declaration(make_server):
    server = make_server("shop.yaml")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backforge",
            "serve",
            str(server.declaration),
            "--port",
            str(server.port),
        ],
        env=server.environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "behind the declaration" in result.stderr
    assert "backforge migrate plan" in result.stderr
