"""What the realtime tests share: a declaration with per-owner rules and a field-level read
rule, the app served by uvicorn on 127.0.0.1, an SSE listener reading a real stream in a
thread, and the calls that sign up and write."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from backforge import App
from backforge.database import create_database_engine

ADMIN_TOKEN = "realtime-admin-token-0123456789"
DECLARATION = {
    "name": "notes",
    "settings": {"token_cookie": "notes_token"},  # a browser may carry the token in a cookie
    "collections": {
        "users": {
            "auth": {"signup": "open", "login": ["email"]},
            "fields": {"name": {"type": "text", "required": True}},
            "rules": {"view": "id = auth.id"},
        },
        "notes": {
            "fields": {
                "owner": {
                    "type": "relation",
                    "to": "users",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
                "title": {"type": "text", "required": True},
                "shared": {"type": "bool", "required": True, "default": False},
                "draft": {"type": "text", "read": "owner = auth.id"},
            },
            "rules": {
                "list": "owner = auth.id || shared = true",
                "view": "owner = auth.id || shared = true",
                "create": 'auth.collection = "users"',
                "update": "owner = auth.id",
                "delete": "owner = auth.id",
            },
        },
        "audit_log": {"fields": {"line": {"type": "text"}}},  # no rules: admins only
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served_app(db_url: str, declaration: Path | None = None) -> Iterator[tuple[str, App]]:
    """The test declaration (or the file `declaration`) served by uvicorn on 127.0.0.1."""
    engine = create_database_engine(db_url)
    if declaration is None:
        app = App.from_dict(DECLARATION, engine, admin_token=ADMIN_TOKEN)
    else:
        app = App.from_file(declaration, engine, admin_token=ADMIN_TOKEN)
    app.store.metadata.create_all(engine)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@contextmanager
def served(db_url: str) -> Iterator[str]:
    with served_app(db_url) as (url, _):
        yield url


class Listener:
    """One SSE stream read in a thread; its events land in a queue."""

    def __init__(self, base: str, params: dict, token: str | None, last_id: str | None = None):
        self.events: queue.Queue[dict] = queue.Queue()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=None))
        self.response = self.client.send(
            self.client.build_request("GET", "/api/realtime", params=params, headers=headers),
            stream=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event: dict = {}
        try:
            for line in self.response.iter_lines():
                if not line:
                    if "event" in event:
                        self.events.put(event)
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    name, _, value = line.partition(":")
                    event[name] = value.strip()
        except httpx.HTTPError:
            pass
        self.events.put({"event": "closed"})

    def next(self, wanted: str | None = None, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if wanted is None or event["event"] == wanted:
                if "data" in event:
                    event["json"] = json.loads(event["data"])
                return event

    def nothing_more(self, wait: float = 1.0) -> list[dict]:
        """What else arrives within `wait` seconds (keep-alives are comments, never events)."""
        time.sleep(wait)
        extra = []
        while not self.events.empty():
            extra.append(self.events.get())
        return extra

    def close(self) -> None:
        """Hang up as a browser does: the socket is shut, so the server sees the disconnect
        (closing the response from this thread would wait for the reading one)."""
        stream = self.response.extensions["network_stream"]
        with contextlib.suppress(OSError):
            stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)
        self.response.close()
        self.client.close()


def sign_up(base: str, name: str) -> str:
    answer = httpx.post(
        f"{base}/api/auth/users/signup",
        json={"email": f"{name}@example.com", "password": "correct horse battery", "name": name},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def write(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    answer = httpx.request(
        method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else {}
