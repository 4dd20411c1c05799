"""Oversize, over-deep, over-long and slow requests get problems, never a 500; gzip; headers."""

from __future__ import annotations

import json
import socket

import httpx
from mw_support import ADMIN

LIMITS = {
    "BACKFORGE_LIMITS__MAX_BODY_BYTES": "4096",
    "BACKFORGE_LIMITS__MAX_JSON_DEPTH": "8",
    "BACKFORGE_LIMITS__MAX_QUERY_LENGTH": "256",
    "BACKFORGE_LIMITS__REQUEST_TIMEOUT": "1",
    "BACKFORGE_CORS__ORIGINS": '["https://app.example"]',
    "BACKFORGE_CORS__ALLOW_CREDENTIALS": "true",
}
JSON_HEADERS = {**ADMIN, "Content-Type": "application/json"}


def _problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:backforge:problem:{slug}"
    assert body["status"] == status
    return body


def _slow_request(port: int, declared: int, sent: bytes) -> bytes:
    """Headers and part of a body, then silence: what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        head = (
            f"POST /api/notes HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        )
        connection.sendall(head.encode() + sent)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_limits_answer_problems_never_500_and_headers_gzip_cors_metrics(make_server):
    server = make_server(**LIMITS, BACKFORGE_METRICS_TOKEN="metrics-token-for-the-scraper")
    with httpx.Client(base_url=server.url) as client:
        big = json.dumps({"title": "x", "data": "y" * 5000})
        _problem(client.post("/api/notes", content=big, headers=JSON_HEADERS), 413, "too-large")

        def chunks():
            for _ in range(10):
                yield b" " * 1000

        streamed = client.post("/api/notes", content=chunks(), headers=JSON_HEADERS)
        _problem(streamed, 413, "too-large")

        deep = {"title": "deep", "data": [[[[[[[[[["x"]]]]]]]]]]}
        _problem(client.post("/api/notes", json=deep, headers=ADMIN), 400, "too-deep")
        # Brackets inside strings are text, not nesting.
        shallow = {"title": "[[[[[[[[[[{{{{{{{{{{", "data": {"a": "]]]]]]]]]][[[[[[[[[["}}
        assert client.post("/api/notes", json=shallow, headers=ADMIN).status_code == 201

        long_query = "/api/notes?filter=" + "title%20%3D%20%22x%22%20%7C%7C%20" * 20
        _problem(client.get(long_query), 414, "uri-too-long")

    answer = _slow_request(server.port, declared=100, sent=b'{"title": ')
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["type"] == "urn:backforge:problem:request-timeout"

    # The same server: security headers, gzip, CORS, metrics.
    with httpx.Client(base_url=server.url) as client:
        for index in range(12):
            body = {"title": f"note {index}", "data": {"text": "lorem ipsum " * 20}}
            assert client.post("/api/notes", json=body, headers=ADMIN).status_code == 201

        listed = client.get("/api/notes?limit=12", headers={"Accept-Encoding": "gzip"})
        assert listed.status_code == 200
        assert listed.headers["content-encoding"] == "gzip"
        assert len(listed.json()["items"]) == 12
        for name, value in {
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
        }.items():
            assert listed.headers[name] == value
        assert "server" not in listed.headers
        assert "strict-transport-security" not in listed.headers  # plain HTTP
        docs = client.get("/docs")
        assert "script-src 'self'" in docs.headers["content-security-policy"]

        allowed = client.options(
            "/api/notes",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert allowed.headers["access-control-max-age"] == "600"
        for origin in ("https://evil.example", "null"):
            refused = client.options(
                "/api/notes",
                headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            )
            assert refused.headers.get("access-control-allow-origin") != origin
            _problem(refused, 400, "cors-refused")
            simple = client.get("/api/notes", headers={"Origin": origin, **ADMIN})
            # Without Access-Control-Allow-Origin the browser hides the answer from the page.
            assert "access-control-allow-origin" not in simple.headers

        _problem(client.get("/metrics"), 401, "unauthorized")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        _problem(wrong, 403, "forbidden")
        for credentials in (ADMIN, {"Authorization": "Bearer metrics-token-for-the-scraper"}):
            scraped = client.get("/metrics", headers=credentials)
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
        text = scraped.text
        created = 'backforge_requests_total{method="POST",route="/api/notes",status="201"}'
        assert f"{created} 13.0" in text
        assert 'route="/api/notes",status="413"} 2.0' in text
        assert "backforge_request_duration_seconds_bucket" in text
        assert "backforge_db_pool_connections" in text
