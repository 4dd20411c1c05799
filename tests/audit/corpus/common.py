"""What the corpus apps share and no audit check looks at: pieces of hand-written OpenAPI
documents, password hashing, a sliding-window rate limiter, and serving an ASGI or WSGI app on a
free loopback port for the length of a test."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from werkzeug.serving import WSGIRequestHandler, make_server

ID = {"type": "integer", "minimum": 1, "maximum": 1_000_000}


def answers(
    error: dict[str, Any], success: str, schema: dict[str, Any] | None, *errors: str
) -> dict[str, Any]:
    """An operation's responses: `success` with `schema` (None: no body), each of `errors`
    with the app's `error` body (bind it once: `functools.partial(answers, ERROR)`)."""
    ok: dict[str, Any] = {"description": "done"}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    refused = {"description": "refused", "content": {"application/json": {"schema": error}}}
    return {success: ok, **{status: refused for status in errors}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def object_schema(required: list[str], *, strict: bool = True, **properties: Any) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties}
    return {**schema, "additionalProperties": False} if strict else schema


def hash_password(password: str, salt: bytes | None = None, rounds: int = 10_000) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"{rounds}:{salt.hex()}:{digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    rounds, salt, _ = stored.split(":")
    again = hash_password(password, bytes.fromhex(salt), int(rounds))
    return hmac.compare_digest(again, stored)


class Limiter:
    """At most `count` events per key in any `seconds`-long window."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self._events: dict[Any, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._events.get(key, []) if now - t < self.seconds]
            self._events[key] = [*recent, now]
            return len(recent) < self.count


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (no `Server` header, no access log)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", access_log=False, server_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the corpus app did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class QuietHandler(WSGIRequestHandler):
    """No `Server: Werkzeug/x Python/y` banner, and no access log on the test's output."""

    server_version = "corpus"
    sys_version = ""

    def log_request(self, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
