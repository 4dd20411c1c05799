"""Webhooks: signed deliveries from a worker to a receiver on 127.0.0.1, retried after a 500,
with every attempt in the admin delivery log."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from backforge.jobs.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

from .conftest import ADMIN, wait_for

SECRET = "whsec-test-0123456789"


class Receiver:
    """Answers 500 to the first `failures` deliveries, then 200; checks every signature."""

    def __init__(self, failures: int):
        self.failures = failures
        self.seen: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify(
                    SECRET,
                    self.headers[TIMESTAMP_HEADER],
                    body,
                    self.headers[SIGNATURE_HEADER],
                )
                receiver.seen.append(
                    {"valid": valid, "delivery": self.headers["X-Backforge-Delivery"], "body": body}
                )
                status = 500 if len(receiver.seen) <= receiver.failures else 200
                self.send_response(status if valid else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    made = Receiver(failures=2)
    yield made
    made.server.shutdown()


def test_a_signed_webhook_is_retried_after_500_and_logged(project, receiver):
    shop = project(
        webhooks={
            "order_paid": {
                "on": "orders.update",
                "url_env": "TEST_ORDER_WEBHOOK_URL",
                "secret_env": "TEST_ORDER_WEBHOOK_SECRET",
                "retry_delay": 0.2,
                "retry_backoff": 1,
            }
        },
        env={"TEST_ORDER_WEBHOOK_URL": receiver.url, "TEST_ORDER_WEBHOOK_SECRET": SECRET},
    )
    # Through a real server: the write commits there and its job is queued from there.
    shop.start_worker()
    url = shop.start_server()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    order = httpx.post(f"{url}/api/orders", json={"note": "hook"}, headers=admin).json()
    assert shop.jobs() == []  # only updates are delivered
    paid = httpx.patch(f"{url}/api/orders/{order['id']}", json={"status": "paid"}, headers=admin)
    assert paid.status_code == 200
    [job] = wait_for(lambda: [j for j in shop.jobs() if j["status"] == "done"], "a delivery")
    assert len(receiver.seen) == 3
    assert all(seen["valid"] for seen in receiver.seen)
    assert {seen["delivery"] for seen in receiver.seen} == {job["id"]}
    assert len({seen["body"] for seen in receiver.seen}) == 1  # the same bytes on every retry
    assert b'"status":"paid"' in receiver.seen[0]["body"]

    assert httpx.get(f"{url}/api/admin/webhooks/deliveries").status_code == 403
    deliveries = f"{url}/api/admin/webhooks/deliveries?webhook=order_paid"
    log = httpx.get(deliveries, headers=admin).json()
    attempts = sorted((d["attempt"], d["status_code"]) for d in log["items"])
    assert attempts == [(1, 500), (2, 500), (3, 200)]


def test_signatures_fail_with_another_secret_or_an_old_timestamp():
    import time

    from backforge.jobs.webhooks import sign

    now = str(int(time.time()))
    assert verify(SECRET, now, b"{}", sign(SECRET, now, b"{}"))
    assert not verify("other", now, b"{}", sign(SECRET, now, b"{}"))
    assert not verify(SECRET, now, b"{ }", sign(SECRET, now, b"{}"))
    old = str(int(time.time()) - 3600)
    assert not verify(SECRET, old, b"{}", sign(SECRET, old, b"{}"))
