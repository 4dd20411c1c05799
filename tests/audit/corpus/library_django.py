"""A lending library's API in Django (function views, no ORM: settings for one process),
with opaque tokens sent as `Authorization: Token KEY` the way Django REST framework does.
`make_app(flawed=True)` carries the flaws named in FLAWS; `make_app(flawed=False)` is its
secure twin.

Members sign up and borrow books; staff keep the catalogue.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from .common import (
    ID,
    Limiter,
    answers,
    check_password,
    hash_password,
    json_body,
    object_schema,
)
from .common import serve_wsgi as serve  # noqa: F401 - the corpus interface

ADMIN = ("staff", "staff-password-" + secrets.token_hex(8))
# flaw -> the findings it must cause, as (finding id, OWASP category, operation)
FLAWS: dict[str, list[tuple[str, str, str]]] = {
    "mass_assignment_signup": [("mass-assignment", "API3:2023", "POST /api/register")],
    "bfla_catalogue_edit": [
        ("bfla-privileged-operation", "API5:2023", "PATCH /api/books/{book_id}")
    ],
    "no_login_limit": [("no-rate-limit-login", "API4:2023", "POST /api/auth/token")],
    "loan_days_unchecked": [("invalid-input-accepted", "API8:2023", "POST /api/loans")],
    "cors_any_origin": [("cors-any-origin-with-credentials", "API8:2023", "*")],
    "no_security_headers": [("security-headers-missing", "API8:2023", "*")],
    "bola_loan_return": [("bola-delete", "API1:2023", "DELETE /api/loans/{loan_id}")],
    "enumeration_timing": [("user-enumeration", "API2:2023", "POST /api/auth/token")],
}
# Django's own password hasher takes a good part of a second; a lighter one keeps the tests
# quick while a checked password still costs far more than a lookup.
ROUNDS = 300_000
DUMMY_HASH = hash_password(secrets.token_urlsafe(16), rounds=ROUNDS)
urlpatterns: list[Any] = []  # ROOT_URLCONF's; each app routes by its own (request.urlconf)


def _configure() -> None:
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
        )
        django.setup()


ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
}
_answers = functools.partial(answers, ERROR)
MEMBER = {
    "type": "object",
    "required": ["id", "username", "is_staff"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "is_staff": {"type": "boolean"},
    },
}
BOOK = {
    "type": "object",
    "required": ["id", "title", "author"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "author": {"type": "string"},
    },
}
LOAN = {
    "type": "object",
    "required": ["id", "book_id", "member", "days"],
    "properties": {
        "id": {"type": "integer"},
        "book_id": {"type": "integer"},
        "member": {"type": "string"},
        "days": {"type": "integer"},
    },
}


REGISTER = object_schema(
    strict=False,
    required=["username", "password"],
    username={"type": "string", "pattern": "^[a-z0-9_]{3,20}$"},
    email={"type": "string", "format": "email", "maxLength": 120},
    password={"type": "string", "minLength": 10, "maxLength": 128},
)
CREDENTIALS = object_schema(
    strict=False,
    required=["username", "password"],
    username={"type": "string", "maxLength": 40},
    password={"type": "string", "maxLength": 128},
)
NEW_BOOK = object_schema(
    strict=False,
    required=["title", "author"],
    title={"type": "string", "minLength": 1, "maxLength": 120},
    author={"type": "string", "minLength": 1, "maxLength": 80},
)
BOOK_CHANGE = object_schema(
    strict=False,
    required=[],
    title={"type": "string", "minLength": 1, "maxLength": 120},
    author={"type": "string", "minLength": 1, "maxLength": 80},
)
NEW_LOAN = object_schema(
    strict=False,
    required=["book_id", "days"],
    book_id=ID,
    days={"type": "integer", "minimum": 1, "maximum": 60},
)
TOKEN = [{"token": []}]


def openapi_document() -> dict[str, Any]:
    def item(name: str) -> list[dict[str, Any]]:
        return [{"name": name, "in": "path", "required": True, "schema": ID}]

    return {
        "openapi": "3.0.3",
        "info": {"title": "library", "version": "1.0"},
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "Token"}}},
        "paths": {
            "/api/register": {
                "post": {
                    "requestBody": json_body(REGISTER),
                    "responses": _answers("201", MEMBER, "400", "409"),
                }
            },
            "/api/auth/token": {
                "post": {
                    "requestBody": json_body(CREDENTIALS),
                    "responses": _answers(
                        "200",
                        {"type": "object", "properties": {"token": {"type": "string"}}},
                        "400",
                        "401",
                        "429",
                    ),
                }
            },
            "/api/books": {
                "get": {"responses": _answers("200", {"type": "array", "items": BOOK})},
                "post": {
                    "security": TOKEN,
                    "requestBody": json_body(NEW_BOOK),
                    "responses": _answers("201", BOOK, "400", "401", "403", "429"),
                },
            },
            "/api/books/{book_id}": {
                "get": {"parameters": item("book_id"), "responses": _answers("200", BOOK, "404")},
                "patch": {
                    "security": TOKEN,
                    "parameters": item("book_id"),
                    "requestBody": json_body(BOOK_CHANGE),
                    "responses": _answers("200", BOOK, "400", "401", "403", "404"),
                },
            },
            "/api/loans": {
                "get": {
                    "security": TOKEN,
                    "responses": _answers("200", {"type": "array", "items": LOAN}, "401"),
                },
                "post": {
                    "security": TOKEN,
                    "requestBody": json_body(NEW_LOAN),
                    "responses": _answers("201", LOAN, "400", "401", "404", "429"),
                },
            },
            "/api/loans/{loan_id}": {
                "get": {
                    "security": TOKEN,
                    "parameters": item("loan_id"),
                    "responses": _answers("200", LOAN, "401", "404"),
                },
                "delete": {
                    "security": TOKEN,
                    "parameters": item("loan_id"),
                    "responses": _answers("204", None, "401", "404"),
                },
            },
        },
    }


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class Routes:
    """A urlconf of its own for each app (Django resolves `request.urlconf` first)."""

    def __init__(self, urlpatterns: list[Any]) -> None:
        self.urlpatterns = urlpatterns


class Handler(WSGIHandler):
    def __init__(self, routes: Routes) -> None:
        super().__init__()
        self.routes = routes

    def get_response(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = self.routes  # type: ignore[attr-defined]
        return super().get_response(request)


def make_app(flawed: bool) -> Handler:
    _configure()
    lock = threading.Lock()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(
        """
        CREATE TABLE members (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT,
                              password_hash TEXT, is_staff INTEGER DEFAULT 0);
        CREATE TABLE tokens (key TEXT PRIMARY KEY, member_id INTEGER);
        CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author TEXT);
        CREATE TABLE loans (id INTEGER PRIMARY KEY, book_id INTEGER, member TEXT, days INTEGER);
        INSERT INTO books (title, author) VALUES ('Emma', 'Austen'), ('Ulysses', 'Joyce');
        """
    )
    db.execute(
        "INSERT INTO members (username, password_hash, is_staff) VALUES (?, ?, 1)",
        (ADMIN[0], hash_password(ADMIN[1], rounds=ROUNDS)),
    )
    logins, writes = Limiter(20, 60), Limiter(25, 10)
    document = openapi_document()

    def sql(query: str, *args: Any) -> sqlite3.Cursor:
        with lock:
            return db.execute(query, args)

    def view(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
        """JSON in and out, refusals as {"detail"}, and the headers every answer carries."""

        def wrap(handler: Callable[..., Any]) -> Callable[..., HttpResponse]:
            def run(request: HttpRequest, **kwargs: Any) -> HttpResponse:
                try:
                    if request.method not in methods:
                        raise Refused(405, "method not allowed")
                    response = handler(request, **kwargs)
                except Refused as refused:
                    response = JsonResponse({"detail": refused.detail}, status=refused.status)
                if not flawed:  # no_security_headers
                    response["X-Content-Type-Options"] = "nosniff"
                    response["X-Frame-Options"] = "DENY"
                    response["Cache-Control"] = "no-store"
                origin = request.headers.get("Origin")
                if flawed and origin:  # cors_any_origin
                    response["Access-Control-Allow-Origin"] = origin
                    response["Access-Control-Allow-Credentials"] = "true"
                return response

            return run

        return wrap

    def read(request: HttpRequest, schema: dict[str, Any], extra: set[str] = frozenset()) -> dict:
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "the body must be a JSON object")
        props = schema["properties"]
        unknown = sorted(set(data) - set(props) - extra)
        if unknown:
            raise Refused(400, f"unknown fields: {', '.join(unknown)}")
        missing = [name for name in schema["required"] if name not in data]
        if missing:
            raise Refused(400, f"required: {', '.join(missing)}")
        for name, value in data.items():
            rule = props.get(name)
            if rule is None:
                continue
            if rule["type"] == "integer":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise Refused(400, f"{name} must be a whole number")
                top = rule["maximum"] if not (flawed and name == "days") else 10**9
                if not rule["minimum"] <= value <= top:  # loan_days_unchecked
                    raise Refused(400, f"{name} is out of range")
            elif not isinstance(value, str) or not (
                rule.get("minLength", 0) <= len(value) <= rule.get("maxLength", 20)
            ):
                raise Refused(400, f"{name} must be a string of the right length")
            elif rule.get("format") == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
                raise Refused(400, f"{name} must be an email address")
            elif rule.get("pattern") and not re.search(rule["pattern"], value):
                raise Refused(400, f"{name} has the wrong form")
        return data

    def caller(request: HttpRequest) -> sqlite3.Row:
        word, _, key = request.headers.get("Authorization", "").partition(" ")
        row = sql(
            "SELECT members.* FROM tokens JOIN members ON members.id = member_id WHERE key = ?",
            key,
        ).fetchone()
        if word != "Token" or row is None:
            raise Refused(401, "sign in first")
        return row

    def limit(request: HttpRequest) -> None:
        if not writes.allow((request.META.get("REMOTE_ADDR"), request.path)):
            raise Refused(429, "too many writes; wait a few seconds")

    def member_json(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "username": row["username"],
            "email": row["email"] or "",
            "is_staff": bool(row["is_staff"]),
        }

    @view("GET")
    def openapi(request: HttpRequest) -> HttpResponse:
        return JsonResponse(document)

    @view("POST")
    def register(request: HttpRequest) -> HttpResponse:
        limit(request)
        # mass_assignment_signup: the flawed form takes every column of the model
        data = read(request, REGISTER, extra={"is_staff"} if flawed else set())
        try:
            cursor = sql(
                "INSERT INTO members (username, email, password_hash, is_staff) "
                "VALUES (?, ?, ?, ?)",
                data["username"],
                data.get("email"),
                hash_password(data["password"], rounds=ROUNDS),
                int(bool(data.get("is_staff"))),
            )
        except sqlite3.IntegrityError:
            raise Refused(409, "this username is taken") from None
        row = sql("SELECT * FROM members WHERE id = ?", cursor.lastrowid).fetchone()
        return JsonResponse(member_json(row), status=201)

    @view("POST")
    def token(request: HttpRequest) -> HttpResponse:
        if not flawed and not logins.allow(request.META.get("REMOTE_ADDR")):  # no_login_limit
            raise Refused(429, "too many attempts; wait a minute")
        data = read(request, CREDENTIALS)
        row = sql("SELECT * FROM members WHERE username = ?", data["username"]).fetchone()
        if row is None and not flawed:  # enumeration_timing: as long for unknown accounts
            check_password(data["password"], DUMMY_HASH)
        if row is None or not check_password(data["password"], row["password_hash"]):
            raise Refused(401, "wrong username or password")
        key = secrets.token_hex(20)
        sql("INSERT INTO tokens (key, member_id) VALUES (?, ?)", key, row["id"])
        return JsonResponse({"token": key})

    def book_row(book_id: int) -> sqlite3.Row:
        row = sql("SELECT * FROM books WHERE id = ?", book_id).fetchone()
        if row is None:
            raise Refused(404, "no such book")
        return row

    @view("GET", "POST")
    def books(request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            rows = sql("SELECT * FROM books ORDER BY id LIMIT 100").fetchall()
            return JsonResponse([dict(r) for r in rows], safe=False)
        limit(request)
        if not caller(request)["is_staff"]:
            raise Refused(403, "staff only")
        data = read(request, NEW_BOOK)
        cursor = sql(
            "INSERT INTO books (title, author) VALUES (?, ?)", data["title"], data["author"]
        )
        return JsonResponse(dict(book_row(cursor.lastrowid)), status=201)

    def path_id(value: str) -> int:
        if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
            raise Refused(404, "no such record")
        return int(value)

    @view("GET", "PATCH")
    def book(request: HttpRequest, book_id: str) -> HttpResponse:
        row = book_row(path_id(book_id))
        if request.method == "PATCH":
            if not caller(request)["is_staff"] and not flawed:  # bfla_catalogue_edit
                raise Refused(403, "staff only")
            data = read(request, BOOK_CHANGE)
            for column in ("title", "author"):
                if column in data:  # column names from this code, not the client
                    sql(f"UPDATE books SET {column} = ? WHERE id = ?", data[column], row["id"])
            row = book_row(row["id"])
        return JsonResponse(dict(row))

    @view("GET", "POST")
    def loans(request: HttpRequest) -> HttpResponse:
        member = caller(request)
        if request.method == "GET":
            rows = sql("SELECT * FROM loans WHERE member = ? LIMIT 100", member["username"])
            return JsonResponse([dict(r) for r in rows.fetchall()], safe=False)
        limit(request)
        data = read(request, NEW_LOAN)
        book_row(data["book_id"])
        cursor = sql(
            "INSERT INTO loans (book_id, member, days) VALUES (?, ?, ?)",
            data["book_id"],
            member["username"],
            data["days"],
        )
        row = sql("SELECT * FROM loans WHERE id = ?", cursor.lastrowid).fetchone()
        return JsonResponse(dict(row), status=201)

    @view("GET", "DELETE")
    def loan(request: HttpRequest, loan_id: str) -> HttpResponse:
        member = caller(request)
        row = sql("SELECT * FROM loans WHERE id = ?", path_id(loan_id)).fetchone()
        mine = row is not None and (row["member"] == member["username"] or member["is_staff"])
        returning = request.method == "DELETE"
        if row is None or not (mine or (flawed and returning)):  # bola_loan_return
            raise Refused(404, "no such loan")
        if returning:
            sql("DELETE FROM loans WHERE id = ?", row["id"])
            return HttpResponse(status=204)
        return JsonResponse(dict(row))

    return Handler(
        Routes(
            [
                path("openapi.json", openapi),
                path("api/register", register),
                path("api/auth/token", token),
                path("api/books", books),
                path("api/books/<str:book_id>", book),
                path("api/loans", loans),
                path("api/loans/<str:loan_id>", loan),
            ]
        )
    )
