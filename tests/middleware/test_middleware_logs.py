"""One JSON log line per request, with its id; no secret ever reaches the log."""

from __future__ import annotations

import json
import signal
import socket
import time

import httpx
from mw_support import ADMIN, ADMIN_TOKEN

SECRETS = {
    "password": "pw-SECRET-4f1d9c",
    "cookie": "ck-SECRET-8e2a7b",
    "api_key": "ak-SECRET-3c9e1f",
    "bad_token": "bt-SECRET-7a5d2e",
    "query_token": "qt-SECRET-1b6f0c",
    "metrics_token": "mt-SECRET-9d3a4b",
}


def test_logs_of_a_run_hold_one_line_per_request_and_no_secret(make_server):
    server = make_server(
        BACKFORGE_METRICS_TOKEN=SECRETS["metrics_token"], BACKFORGE_LOG__FORMAT="json"
    )
    url = server.url
    ids = []
    with httpx.Client(base_url=url) as client:
        created = client.post(
            "/api/notes",
            headers=ADMIN,
            json={"title": "hello", "data": {"password": SECRETS["password"]}},
        )
        assert created.status_code == 201
        ids.append(created.headers["x-request-id"])
        note = created.json()["id"]
        answers = [
            client.get(f"/api/notes/{note}", headers=ADMIN),
            client.post("/api/auth/login", json={"password": SECRETS["password"]}),
            client.get("/api/notes", headers={"Cookie": f"session={SECRETS['cookie']}"}),
            client.get("/api/notes", headers={"X-API-Key": SECRETS["api_key"]}),
            client.get("/api/notes", headers={"Authorization": f"Bearer {SECRETS['bad_token']}"}),
            client.get(f"/api/notes?token={SECRETS['query_token']}"),
            client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics_token']}"}),
            client.get("/api/notes", headers={"X-Request-ID": "client-chosen-id-42"}),
            client.get("/api/notes", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200}),
        ]
    assert all(answer.status_code < 500 for answer in answers)
    ids += [answer.headers["x-request-id"] for answer in answers]
    assert ids[-2] == "client-chosen-id-42"
    assert ids[-1] != "bad id\twith spaces" + "x" * 200 and len(ids[-1]) == 24

    # Graceful shutdown: a request in flight when SIGTERM arrives is still answered.
    answer = _request_across_shutdown(server)
    assert answer.startswith(b"HTTP/1.1 201"), answer
    ids.append(_header(answer, b"x-request-id"))
    # uvicorn re-raises the signal once every request has finished.
    assert server.process.wait(20) in (0, -signal.SIGTERM)

    text = server.log.read_text()
    for name, secret in {**SECRETS, "admin_token": ADMIN_TOKEN}.items():
        assert secret not in text, f"the {name} leaked into the log"
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [
        line for line in lines if line.get("event") == "request" and line["route"] != "/healthz"
    ]
    assert [line["request_id"] for line in requests] == ids
    by_id = {line["request_id"]: line for line in requests}
    first = by_id[ids[0]]
    assert first["method"] == "POST" and first["route"] == "/api/notes"
    assert first["status"] == 201 and first["caller"] == "admin"
    assert isinstance(first["duration_ms"], float)
    assert by_id[ids[1]]["route"] == "/api/notes/{id}"  # the template, not the id
    assert note not in text


def _request_across_shutdown(server) -> bytes:
    body = b'{"title": "in flight"}'
    head = (
        "POST /api/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as connection:
        connection.sendall(head.encode())
        # "100 Continue" means the app is reading this request's body: it is in flight.
        assert connection.recv(1024).startswith(b"HTTP/1.1 100")
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # wait until the server refuses new connections
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                time.sleep(0.05)
            except OSError:
                break
        connection.sendall(body)
        answer = b""
        while not answer.endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _header(answer: bytes, name: bytes) -> str:
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode()
    raise AssertionError(f"no {name!r} in {answer!r}")


AUTH_DECLARATION = """
name: accounts
collections:
  users:
    auth: true
    fields:
      name: {type: text, max_length: 100}
    rules: {view: id = auth.id, update: id = auth.id}
  notes:
    fields:
      title: {type: text, required: true}
    rules: {list: public, view: public, create: auth.id != null}
"""


def test_a_full_auth_flow_leaves_no_password_token_cookie_or_key_in_the_log(make_server, tmp_path):
    declaration = tmp_path / "accounts.yaml"
    declaration.write_text(AUTH_DECLARATION, encoding="utf-8")
    server = make_server(
        declaration, BACKFORGE_LOG__FORMAT="json", BACKFORGE_RATE_LIMITS__AUTH="100/minute"
    )
    password = "correct-horse-SECRET-battery-42"
    leaked: dict[str, str] = {"password": password}
    with httpx.Client(base_url=server.url) as client:
        signed_up = client.post(
            "/api/auth/users/signup",
            json={"email": "ann@example.com", "password": password, "name": "Ann"},
        )
        assert signed_up.status_code == 201, signed_up.text
        leaked["signup access token"] = signed_up.json()["access_token"]
        leaked["signup refresh token"] = signed_up.json()["refresh_token"]
        login = client.post(
            "/api/auth/users/login", json={"email": "ann@example.com", "password": password}
        )
        assert login.status_code == 200, login.text
        access, refresh = login.json()["access_token"], login.json()["refresh_token"]
        leaked |= {"access token": access, "refresh token": refresh}
        bearer = {"Authorization": f"Bearer {access}"}
        assert client.get("/api/auth/me", headers=bearer).status_code == 200
        assert client.post("/api/notes", json={"title": "mine"}, headers=bearer).status_code == 201
        refreshed = client.post("/api/auth/users/refresh", json={"refresh_token": refresh})
        assert refreshed.status_code == 200, refreshed.text
        leaked["rotated refresh token"] = refreshed.json()["refresh_token"]
        leaked["rotated access token"] = refreshed.json()["access_token"]
        bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        key = client.post("/api/auth/keys", json={"name": "ci", "scopes": ["*"]}, headers=bearer)
        assert key.status_code == 201, key.text
        leaked["api key"] = key.json()["key"]
        assert client.get("/api/auth/me", headers={"X-API-Key": leaked["api key"]}).is_success
        session = client.post(
            "/api/auth/users/session", json={"email": "ann@example.com", "password": password}
        )
        assert session.status_code == 200, session.text
        leaked |= {f"cookie {name}": value for name, value in session.cookies.items()}
        assert client.get("/api/auth/me").is_success  # the session cookie
        wrong = client.post(
            "/api/auth/users/login",
            json={"email": "ann@example.com", "password": password + "-wrong"},
        )
        assert wrong.status_code in (400, 401)
        client.post(
            "/api/auth/users/logout", json={"refresh_token": refreshed.json()["refresh_token"]}
        )
    server.stop()

    text = server.log.read_text()
    assert '"route":"/api/auth/users/login"' in text
    assert len(leaked) >= 10
    for name, secret in leaked.items():
        assert secret not in text, f"the {name} leaked into the log"
