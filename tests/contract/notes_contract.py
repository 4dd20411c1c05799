"""The contract's endpoints, written with backforge's custom endpoints and auth service."""

from __future__ import annotations

import orjson
from pydantic import BaseModel, Field

from backforge.hooks import Endpoints


def contract_error(status: int, problem: dict) -> tuple[int, dict]:
    """The contract's error shape instead of problem+json."""
    code = problem.get("type", "").rsplit(":", 1)[-1] or "error"
    message = problem.get("detail", "")
    if problem.get("errors"):
        first = problem["errors"][0]
        message = f"{first['path'].lstrip('/')}: {first['message']}"
    return status, {"error": {"code": code, "message": message}}


endpoints = Endpoints(error_formatter=contract_error)


class Credentials(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9_.-]{3,32}$")
    password: str = Field(min_length=10, max_length=256)


class NewNote(BaseModel):
    title: str = Field(min_length=1, max_length=100)


def _note(record: dict) -> dict:
    return {"id": record["id"], "title": record["title"], "created_at": record["created"]}


@endpoints.post("/v1/register", request=Credentials, status=201)
def register(ctx):
    body = {
        "username": ctx.body.username,
        "password": ctx.body.password,
        "email": f"{ctx.body.username}@members.example.org",
    }
    tokens = ctx.auth.signup("members", orjson.dumps(body))
    return {"data": {"id": tokens.record["id"], "username": tokens.record["username"]}}


@endpoints.post("/v1/login", request=Credentials)
def login(ctx):
    tokens = ctx.auth.login("members", ctx.body.username, ctx.body.password)
    return {"data": {"token": tokens.access_token, "expires_in": tokens.expires_in}}


@endpoints.get("/v1/notes", requires_login=True)
def list_notes(ctx):
    return {"data": [_note(n) for n in ctx.store.list("notes", sort="-created")]}


@endpoints.post("/v1/notes", request=NewNote, status=201, requires_login=True)
def create_note(ctx):
    return {"data": _note(ctx.store.create("notes", {"title": ctx.body.title}))}
