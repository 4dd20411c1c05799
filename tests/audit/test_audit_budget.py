"""An audit of a 40-operation API with every check, generated requests included, ends within
its time budget (2 minutes) having run every check, finds nothing on an API that is sound, and
never sends more requests than its request budget, however small."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backforge.audit.checks import ALL_CHECKS
from backforge.audit.context import AuditOptions
from backforge.audit.findings import Severity
from backforge.audit.runner import run_audit

from .conftest import serve

RESOURCES = ["notes", "tags", "boards", "cards", "lists", "files", "links", "events"]
ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}
THING = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "owner": {"type": "string"},
    },
}
NEW_THING = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 40}},
    "additionalProperties": False,
}
CREDENTIALS = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "pattern": "^[a-z0-9]{3,30}$"},
        "password": {"type": "string", "minLength": 10, "maxLength": 100},
    },
    "additionalProperties": False,
}


def _answers(status: str, schema: dict | None, *errors: str) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "done"}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    refused = {"description": "refused", "content": {"application/json": {"schema": ERROR}}}
    return {status: ok, **{code: refused for code in errors}}


def _json_body(schema: dict) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    item_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}
    paths: dict[str, Any] = {
        "/auth/signup": {
            "post": {
                "requestBody": _json_body(CREDENTIALS),
                "responses": _answers("201", None, "400", "409"),
            }
        },
        "/auth/login": {
            "post": {
                "requestBody": _json_body(CREDENTIALS),
                "responses": _answers(
                    "200", {"properties": {"token": {"type": "string"}}}, "400", "401", "429"
                ),
            }
        },
    }
    for name in RESOURCES:
        paths[f"/{name}"] = {
            "get": {
                "security": bearer,
                "parameters": [limit],
                "responses": _answers("200", {"type": "array", "items": THING}, "400", "401"),
            },
            "post": {
                "security": bearer,
                "requestBody": _json_body(NEW_THING),
                "responses": _answers("201", THING, "400", "401", "429"),
            },
        }
        paths[f"/{name}/{{id}}"] = {
            "parameters": item_id,
            "get": {"security": bearer, "responses": _answers("200", THING, "401", "404")},
            "patch": {
                "security": bearer,
                "requestBody": _json_body({**NEW_THING, "required": []}),
                "responses": _answers("200", THING, "400", "401", "404"),
            },
            "delete": {"security": bearer, "responses": _answers("204", None, "401", "404")},
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "boards", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["x-frame-options"] = "DENY"
        response.headers["cache-control"] = "no-store"
        return response


def make_app() -> Starlette:
    """Owners see only their own things; bodies are checked; logins and creates are limited."""
    users: dict[str, str] = {}
    tokens: dict[str, str] = {}
    things: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in RESOURCES}
    counts: dict[str, int] = {}

    def refuse(status: int, detail: str) -> Response:
        return JSONResponse({"detail": detail}, status)

    def limited(key: str, most: int) -> bool:
        counts[key] = counts.get(key, 0) + 1
        return counts[key] > most

    async def body(request: Request, schema: dict) -> dict | None:
        try:
            data = await request.json()
        except ValueError:
            return None
        props = schema["properties"]
        if not isinstance(data, dict) or set(data) - set(props):
            return None
        if any(key not in data for key in schema.get("required", [])):
            return None
        for key, value in data.items():
            rule = props[key]
            if not isinstance(value, str):
                return None
            if not rule.get("minLength", 0) <= len(value) <= rule.get("maxLength", 30):
                return None
            if key == "username" and not value.isalnum():
                return None
        return data

    async def signup(request: Request) -> Response:
        data = await body(request, CREDENTIALS)
        if data is None:
            return refuse(400, "invalid body")
        if data["username"] in users:
            return refuse(409, "taken")
        users[data["username"]] = data["password"]
        return Response(status_code=201)

    async def login(request: Request) -> Response:
        if limited("login", 20):
            return refuse(429, "slow down")
        data = await body(request, CREDENTIALS)
        if data is None:
            return refuse(400, "invalid body")
        if not secrets.compare_digest(users.get(data["username"], "\0"), data["password"]):
            return refuse(401, "wrong username or password")
        token = secrets.token_urlsafe(24)
        tokens[token] = data["username"]
        return JSONResponse({"token": token})

    def caller(request: Request) -> str | None:
        return tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))

    async def collection(request: Request) -> Response:
        name, user = request.url.path.strip("/"), caller(request)
        if user is None:
            return refuse(401, "sign in")
        if request.method == "GET":
            limit = request.query_params.get("limit", "20")
            if not limit.isdigit() or not 1 <= int(limit) <= 100:
                return refuse(400, "limit is 1 to 100")
            mine = [t for t in things[name].values() if t["owner"] == user]
            return JSONResponse(mine[: int(limit)])
        if limited(f"create {name}", 25):
            return refuse(429, "slow down")
        data = await body(request, NEW_THING)
        if data is None:
            return refuse(400, "invalid body")
        thing = {"id": len(things[name]) + 1, "name": data["name"], "owner": user}
        things[name][thing["id"]] = thing
        return JSONResponse(thing, 201)

    async def item(request: Request) -> Response:
        name, user = request.url.path.strip("/").split("/")[0], caller(request)
        if user is None:
            return refuse(401, "sign in")
        raw = request.path_params["id"]
        thing = things[name].get(int(raw)) if raw.isdigit() else None
        if thing is None or thing["owner"] != user:
            return refuse(404, "not found")
        if request.method == "PATCH":
            data = await body(request, {**NEW_THING, "required": []})
            if data is None:
                return refuse(400, "invalid body")
            thing.update(data)
        if request.method == "DELETE":
            del things[name][thing["id"]]
            return Response(status_code=204)
        return JSONResponse(thing)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document())

    routes = [
        Route("/openapi.json", openapi),
        Route("/auth/signup", signup, methods=["POST"]),
        Route("/auth/login", login, methods=["POST"]),
    ]
    for name in RESOURCES:
        routes.append(Route(f"/{name}", collection, methods=["GET", "POST"]))
        routes.append(Route(f"/{name}/{{id}}", item, methods=["GET", "PATCH", "DELETE"]))
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def test_the_api_has_forty_operations():
    operations = sum(
        len([m for m in item if m != "parameters"]) for item in document()["paths"].values()
    )
    assert operations == 42  # 40 on the resources, sign-up and login


def test_a_forty_operation_audit_runs_every_check_within_two_minutes():
    with serve(make_app()) as base:
        report = run_audit(
            base,
            max_time=120,
            max_requests=3000,
            allow_writes=True,
            options=AuditOptions(),  # every check as shipped: 8 generated requests a kind
        )
    assert report.operations == 42
    assert report.checks_run == [check.NAME for check in ALL_CHECKS]
    assert not any("budget ran out" in note for note in report.notes), report.notes
    assert report.requests <= 3000
    assert [f.id for f in report.findings if f.severity > Severity.INFO] == []  # a sound API
    print(f"\n40-operation audit: {report.seconds:.1f} s, {report.requests} requests")


@pytest.mark.parametrize("budget", [25, 150])
def test_the_request_budget_is_never_exceeded(budget):
    with serve(make_app()) as base:
        report = run_audit(base, max_time=120, max_requests=budget, allow_writes=True)
    assert report.requests <= budget
    assert any("budget ran out" in note for note in report.notes)
