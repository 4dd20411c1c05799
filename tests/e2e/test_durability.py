"""Crashes and races: a SIGKILLed server loses no acknowledged write; concurrent If-Match
updates lose none either (each applies or answers 412)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

WRITERS = 6


def _category(client: httpx.Client) -> str:
    response = client.post("/api/categories", json={"name": "Maps", "slug": "maps"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_sigkill_during_writes_loses_no_acknowledged_write(make_server, admin):
    # One serving process (no reloader beside it), which SIGKILL stops.
    server = make_server("shop.yaml").start("--dev", "--no-reload")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=admin, timeout=5) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                body = {"name": f"w{worker}-{n}", "sku": f"W{worker}-{n}", "price": 1}
                try:
                    response = client.post("/api/products", json=body)
                except httpx.TransportError:
                    return  # the server died mid-request: this write was never acknowledged
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])

    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(write, i) for i in range(WRITERS)]
        deadline = time.monotonic() + 20
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        stop.set()
        for future in futures:
            future.result()
    assert len(acknowledged) >= 200

    server.start()
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as client:
        seen: set[str] = set()
        cursor = None
        while True:
            params = {"limit": 200, "fields": "id", **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/products", params=params).json()
            seen.update(p["id"] for p in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    missing = set(acknowledged) - seen
    assert not missing, f"{len(missing)} acknowledged writes were lost"


def test_concurrent_if_match_updates_lose_nothing(make_server, admin):
    server = make_server("shop.yaml").start("--dev")
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as client:
        category = _category(client)
        product = client.post(
            "/api/products",
            json={"name": "Counter", "sku": "CNT-1", "price": 1, "stock": 0, "category": category},
        ).json()
    url = f"/api/products/{product['id']}"
    increments_per_worker = 15
    outcomes = {"applied": 0, "stale": 0}
    lock = threading.Lock()

    def increment(_worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=admin, timeout=10) as client:
            done = 0
            while done < increments_per_worker:
                current = client.get(url)
                stock, etag = current.json()["stock"], current.headers["etag"]
                response = client.patch(url, json={"stock": stock + 1}, headers={"If-Match": etag})
                assert response.status_code in (200, 412), response.text
                with lock:
                    outcomes["applied" if response.status_code == 200 else "stale"] += 1
                done += response.status_code == 200

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(increment, range(WRITERS)))
    final = httpx.get(server.url + url, headers=admin).json()
    assert final["stock"] == WRITERS * increments_per_worker == outcomes["applied"]
    assert final["version"] == outcomes["applied"] + 1
