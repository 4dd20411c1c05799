"""A project tracker in plain Starlette: hand-written routes and OpenAPI document, a session
cookie set by a login, JSON read by hand. `make_app(flawed=True)` carries the flaws named in
FLAWS; `make_app(flawed=False)` is its secure twin.

People sign up, create projects, add tasks with tags to them, and look up their own account.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import sqlite3
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import (
    ID,
    Limiter,
    answers,
    check_password,
    hash_password,
    json_body,
    object_schema,
)
from .common import serve_asgi as serve  # noqa: F401 - the corpus interface

ADMIN = ("admin@tracker.test", "admin-password-" + secrets.token_hex(8))
# flaw -> the findings it must cause, as (finding id, OWASP category, operation)
FLAWS: dict[str, list[tuple[str, str, str]]] = {
    "debug_traceback": [("stack-trace-leak", "API8:2023", "POST /api/projects")],
    "cors_suffix": [("cors-lookalike-origin-with-credentials", "API8:2023", "*")],
    "no_write_limit": [("no-rate-limit-writes", "API4:2023", "POST /api/projects")],
    "redos_tag_filter": [("redos", "API4:2023", "GET /api/tasks")],
    "reset_token_exposed": [("sensitive-data-exposure", "API3:2023", "POST /api/accounts")],
    "mass_assignment_owner": [("mass-assignment", "API3:2023", "PATCH /api/projects/{project_id}")],
    "bola_list": [("bola-read", "API1:2023", "GET /api/projects")],
    "version_banner": [("version-banner", "API8:2023", "*")],
}
CATASTROPHIC_TAG = re.compile(r"^([a-z0-9]+-?)*$")
LINEAR_TAG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_answers = functools.partial(answers, ERROR)
ACCOUNT = {
    "type": "object",
    "required": ["id", "email", "name"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string"},
    },
}
PROJECT = {
    "type": "object",
    "required": ["id", "name", "owner_id"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "owner_id": {"type": "integer"},
    },
}
TASK = {
    "type": "object",
    "required": ["id", "project_id", "title", "tag"],
    "properties": {
        "id": {"type": "integer"},
        "project_id": {"type": "integer"},
        "title": {"type": "string"},
        "tag": {"type": "string"},
    },
}


NEW_ACCOUNT = object_schema(
    ["email", "password", "name"],
    email={"type": "string", "format": "email", "maxLength": 120},
    password={"type": "string", "minLength": 10, "maxLength": 128},
    name={"type": "string", "minLength": 1, "maxLength": 60},
)
SESSION = object_schema(
    ["email", "password"],
    email={"type": "string", "maxLength": 120},
    password={"type": "string", "maxLength": 128},
)
NEW_PROJECT = object_schema(
    ["name"],
    name={"type": "string", "minLength": 1, "maxLength": 80},
    description={"type": "string", "maxLength": 500},
)
PROJECT_CHANGE = object_schema(
    [],
    name={"type": "string", "minLength": 1, "maxLength": 80},
    description={"type": "string", "maxLength": 500},
)
NEW_TASK = object_schema(
    ["project_id", "title", "tag"],
    project_id=ID,
    title={"type": "string", "minLength": 1, "maxLength": 120},
    tag={"type": "string", "minLength": 1, "maxLength": 40},
)


COOKIE = [{"session": []}]


def openapi_document() -> dict[str, Any]:
    project_id = {"name": "project_id", "in": "path", "required": True, "schema": ID}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tracker", "version": "2.3"},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "sid"}}
        },
        "paths": {
            "/api/accounts": {
                "post": {
                    "requestBody": json_body(NEW_ACCOUNT),
                    "responses": _answers("201", ACCOUNT, "400", "409", "429"),
                }
            },
            "/api/session": {
                "post": {
                    "requestBody": json_body(SESSION),
                    "responses": _answers("200", ACCOUNT, "400", "401", "429"),
                },
                "delete": {"security": COOKIE, "responses": _answers("204", None, "401")},
            },
            "/api/me": {"get": {"security": COOKIE, "responses": _answers("200", ACCOUNT, "401")}},
            "/api/projects": {
                "get": {
                    "security": COOKIE,
                    "responses": _answers("200", {"type": "array", "items": PROJECT}, "401"),
                },
                "post": {
                    "security": COOKIE,
                    "requestBody": json_body(NEW_PROJECT),
                    "responses": _answers("201", PROJECT, "400", "401", "429"),
                },
            },
            "/api/projects/{project_id}": {
                "get": {
                    "security": COOKIE,
                    "parameters": [project_id],
                    "responses": _answers("200", PROJECT, "400", "401", "404"),
                },
                "patch": {
                    "security": COOKIE,
                    "parameters": [project_id],
                    "requestBody": json_body(PROJECT_CHANGE),
                    "responses": _answers("200", PROJECT, "400", "401", "404"),
                },
            },
            "/api/tasks": {
                "get": {
                    "security": COOKIE,
                    "parameters": [
                        {
                            "name": "tag",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 40},
                        }
                    ],
                    "responses": _answers("200", {"type": "array", "items": TASK}, "400", "401"),
                },
                "post": {
                    "security": COOKIE,
                    "requestBody": json_body(NEW_TASK),
                    "responses": _answers("201", TASK, "400", "401", "404", "429"),
                },
            },
        },
    }


class Headers:
    """Security headers on every answer, CORS for the app's own origin, and (flawed) a banner."""

    def __init__(self, app: ASGIApp, flawed: bool) -> None:
        self.app, self.flawed = app, flawed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        origin = request_headers.get(b"origin", b"").decode("latin-1")
        host = request_headers.get(b"host", b"").decode("latin-1")
        if self.flawed:  # cors_suffix: "our own host" matched by its end
            trusted = bool(host) and origin.endswith(host)
        else:
            trusted = origin == f"http://{host}"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store"),
                ]
                if trusted:
                    headers += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-allow-credentials", b"true"),
                        (b"vary", b"Origin"),
                    ]
                if self.flawed:  # version_banner
                    headers.append((b"x-powered-by", b"tracker/2.3.1 starlette/0.37.2"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def make_app(flawed: bool) -> Starlette:
    lock = threading.Lock()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT,
                               password_hash TEXT, reset_token TEXT);
        CREATE TABLE sessions (sid TEXT PRIMARY KEY, account_id INTEGER);
        CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT, description TEXT,
                               owner_id INTEGER);
        CREATE TABLE tasks (id INTEGER PRIMARY KEY, project_id INTEGER, title TEXT, tag TEXT);
        """
    )
    db.execute(
        "INSERT INTO accounts (email, name, password_hash) VALUES (?, 'Admin', ?)",
        (ADMIN[0], hash_password(ADMIN[1])),
    )
    logins, writes = Limiter(20, 60), Limiter(25, 10)
    document = openapi_document()

    def sql(query: str, *args: Any) -> sqlite3.Cursor:
        with lock:
            return db.execute(query, args)

    def fail(status: int, message: str) -> HTTPException:
        return HTTPException(status, message)

    async def read_json(request: Request, fields: dict[str, Any]) -> dict[str, Any]:
        """The body, checked against the operation's schema by hand."""
        raw = await request.body()
        if flawed:  # debug_traceback: trusts the body to be JSON; the debug page tells all
            data = json.loads(raw)
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                raise fail(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise fail(400, "the body must be a JSON object")
        props = fields["properties"]
        unknown = sorted(set(data) - set(props))
        if unknown:
            raise fail(400, f"unknown fields: {', '.join(unknown)}")
        for name in fields["required"]:
            if name not in data:
                raise fail(400, f"{name} is required")
        for name, value in data.items():
            rule = props[name]
            kind = {"string": str, "integer": int}[rule["type"]]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise fail(400, f"{name} must be a {rule['type']}")
            if kind is str and not rule.get("minLength", 0) <= len(value) <= rule["maxLength"]:
                raise fail(400, f"{name} has the wrong length")
            if kind is int and not rule["minimum"] <= value <= rule["maximum"]:
                raise fail(400, f"{name} is out of range")
            if rule.get("format") == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
                raise fail(400, f"{name} must be an email address")
        return data

    def caller(request: Request) -> sqlite3.Row:
        sid = request.cookies.get("sid", "")
        row = sql(
            "SELECT accounts.* FROM sessions JOIN accounts ON accounts.id = account_id "
            "WHERE sid = ?",
            sid,
        ).fetchone()
        if row is None:
            raise fail(401, "sign in first")
        return row

    def limit(request: Request, always: bool = True) -> None:
        if (always or not flawed) and not writes.allow(
            (request.client and request.client.host, request.url.path)
        ):
            raise fail(429, "too many writes; wait a few seconds")

    def account_json(row: sqlite3.Row) -> dict[str, Any]:
        data = {"id": row["id"], "email": row["email"], "name": row["name"]}
        if flawed:  # reset_token_exposed
            data["reset_token"] = row["reset_token"]
        return data

    def project_json(row: sqlite3.Row) -> dict[str, Any]:
        return {k: row[k] for k in ("id", "name", "description", "owner_id") if row[k] is not None}

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def accounts(request: Request) -> Response:
        limit(request)
        data = await read_json(request, NEW_ACCOUNT)
        try:
            cursor = sql(
                "INSERT INTO accounts (email, name, password_hash, reset_token) "
                "VALUES (?, ?, ?, ?)",
                data["email"],
                data["name"],
                hash_password(data["password"]),
                secrets.token_urlsafe(24),
            )
        except sqlite3.IntegrityError:
            raise fail(409, "this email has an account") from None
        row = sql("SELECT * FROM accounts WHERE id = ?", cursor.lastrowid).fetchone()
        return JSONResponse(account_json(row), 201)

    async def session(request: Request) -> Response:
        if request.method == "DELETE":
            caller(request)
            sql("DELETE FROM sessions WHERE sid = ?", request.cookies.get("sid", ""))
            response = Response(status_code=204)
            response.delete_cookie("sid")
            return response
        if not logins.allow(request.client and request.client.host):
            raise fail(429, "too many attempts; wait a minute")
        data = await read_json(request, SESSION)
        row = sql("SELECT * FROM accounts WHERE email = ?", data["email"]).fetchone()
        if row is None or not check_password(data["password"], row["password_hash"]):
            raise fail(401, "wrong email or password")
        sid = secrets.token_urlsafe(32)
        sql("INSERT INTO sessions (sid, account_id) VALUES (?, ?)", sid, row["id"])
        response = JSONResponse(account_json(row))
        response.set_cookie("sid", sid, httponly=True, samesite="lax")
        return response

    async def me(request: Request) -> Response:
        return JSONResponse(account_json(caller(request)))

    async def projects(request: Request) -> Response:
        user = caller(request)
        if request.method == "GET":
            query = "SELECT * FROM projects ORDER BY id LIMIT 100"  # bola_list
            if not flawed:
                query = "SELECT * FROM projects WHERE owner_id = ? ORDER BY id LIMIT 100"
            rows = sql(query, *([] if flawed else [user["id"]])).fetchall()
            return JSONResponse([project_json(r) for r in rows])
        limit(request, always=False)  # no_write_limit
        data = await read_json(request, NEW_PROJECT)
        cursor = sql(
            "INSERT INTO projects (name, description, owner_id) VALUES (?, ?, ?)",
            data["name"],
            data.get("description"),
            user["id"],
        )
        row = sql("SELECT * FROM projects WHERE id = ?", cursor.lastrowid).fetchone()
        return JSONResponse(project_json(row), 201)

    def path_id(request: Request) -> int:
        value = request.path_params["project_id"]
        if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
            raise fail(400, "the id is a whole number from 1 to 1000000")
        return int(value)

    async def project(request: Request) -> Response:
        user = caller(request)
        row = sql("SELECT * FROM projects WHERE id = ?", path_id(request)).fetchone()
        if row is None or row["owner_id"] != user["id"]:
            raise fail(404, "no such project")
        if request.method == "PATCH":
            change = PROJECT_CHANGE
            if flawed:  # mass_assignment_owner: the model grew an owner field for transfers
                change = {**change, "properties": {**change["properties"], "owner_id": ID}}
            data = await read_json(request, change)
            for column in ("name", "description", "owner_id"):
                if column in data:  # column names from this code, not the client
                    sql(f"UPDATE projects SET {column} = ? WHERE id = ?", data[column], row["id"])
            row = sql("SELECT * FROM projects WHERE id = ?", row["id"]).fetchone()
        return JSONResponse(project_json(row))

    async def tasks(request: Request) -> Response:
        user = caller(request)
        if request.method == "GET":
            tag = request.query_params.get("tag")
            if tag is not None:
                pattern = CATASTROPHIC_TAG if flawed else LINEAR_TAG  # redos_tag_filter
                if len(tag) > 40 or not pattern.match(tag):
                    raise fail(400, "a tag is lower-case words joined by hyphens")
            rows = sql(
                "SELECT tasks.* FROM tasks JOIN projects ON projects.id = project_id "
                "WHERE owner_id = ? AND (? IS NULL OR tag = ?) ORDER BY tasks.id LIMIT 100",
                user["id"],
                tag,
                tag,
            ).fetchall()
            return JSONResponse([dict(r) for r in rows])
        limit(request)
        data = await read_json(request, NEW_TASK)
        if not LINEAR_TAG.match(data["tag"]):
            raise fail(400, "a tag is lower-case words joined by hyphens")
        owner = sql("SELECT owner_id FROM projects WHERE id = ?", data["project_id"]).fetchone()
        if owner is None or owner[0] != user["id"]:
            raise fail(404, "no such project")
        cursor = sql(
            "INSERT INTO tasks (project_id, title, tag) VALUES (?, ?, ?)",
            data["project_id"],
            data["title"],
            data["tag"],
        )
        return JSONResponse(
            dict(sql("SELECT * FROM tasks WHERE id = ?", cursor.lastrowid).fetchone()), 201
        )

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, exc.status_code)

    return Starlette(
        debug=flawed,  # debug_traceback
        routes=[
            Route("/openapi.json", openapi),
            Route("/api/accounts", accounts, methods=["POST"]),
            Route("/api/session", session, methods=["POST", "DELETE"]),
            Route("/api/me", me),
            Route("/api/projects", projects, methods=["GET", "POST"]),
            Route("/api/projects/{project_id}", project, methods=["GET", "PATCH"]),
            Route("/api/tasks", tasks, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(Headers, flawed=flawed)],
        exception_handlers={HTTPException: refused},
    )
