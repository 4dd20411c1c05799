"""A clinic's appointment API in Flask, written twice in one: `make_app(flawed=True)` carries the
flaws real APIs hide (each named in FLAWS, with the findings a scorer expects), and
`make_app(flawed=False)` is its secure twin, on which the audit must find nothing.

Patients sign up and book appointments with doctors; admins keep the list of doctors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from typing import Any

import jsonschema_rs
import jwt
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .common import serve_wsgi as serve  # noqa: F401 - the corpus interface

ADMIN = ("admin", "admin-password-" + secrets.token_hex(8))
NUMERIC_SECRET = "271828"  # six digits: in no dictionary, found by brute force
LOGIN_LIMIT = 20  # attempts per client per minute in the twin
WRITE_LIMIT = (25, 10.0)  # creates per client and path, per seconds (both variants)
# flaw -> the findings it must cause, as (finding id, OWASP category, operation)
FLAWS: dict[str, list[tuple[str, str, str]]] = {
    "bola": [("bola-read", "API1:2023", "GET /appointments/{appointment_id}")],
    "bola_account": [("bola-account-change", "API1:2023", "PUT /users/{username}/password")],
    "mass_assignment_self": [("mass-assignment", "API3:2023", "PATCH /users/me")],
    "bfla_catalogue": [("bfla-privileged-operation", "API5:2023", "DELETE /doctors/{doctor_id}")],
    "jwt_numeric_secret": [("jwt-weak-secret", "API2:2023", "POST /auth/login")],
    "enumeration_200": [("user-enumeration", "API2:2023", "POST /auth/login")],
    "sensitive_data": [("sensitive-data-exposure", "API3:2023", "GET /users/me")],
    "unbounded_limit": [("unbounded-page-size", "API4:2023", "GET /appointments")],
    "cors_lookalike": [("cors-lookalike-origin-with-credentials", "API8:2023", "*")],
    "no_rate_limit": [("no-rate-limit-login", "API4:2023", "POST /auth/login")],
}

USER = {
    "type": "object",
    "required": ["id", "username", "email", "role"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"type": "string", "enum": ["patient", "admin"]},
    },
}
DOCTOR = {
    "type": "object",
    "required": ["id", "name", "specialty"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "specialty": {"type": "string"},
    },
}
APPOINTMENT = {
    "type": "object",
    "required": ["id", "doctor_id", "day", "patient"],
    "properties": {
        "id": {"type": "integer"},
        "doctor_id": {"type": "integer"},
        "patient": {"type": "string"},
        "day": {"type": "string", "format": "date"},
        "note": {"type": "string"},
    },
}
PROBLEM = {
    "type": "object",
    "required": ["title", "status"],
    "properties": {"title": {"type": "string"}, "status": {"type": "integer"}},
}
ID = {"type": "integer", "minimum": 1, "maximum": 1_000_000}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answers(success: str, schema: dict[str, Any] | None, *errors: str) -> dict[str, Any]:
    answers: dict[str, Any] = {
        success: {"description": "done"}
        if schema is None
        else {"description": "done", "content": {"application/json": {"schema": schema}}}
    }
    for status in errors:
        answers[status] = {
            "description": "refused",
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
    return answers


def _strict(required: list[str], **properties: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {**schema, "required": required} if required else schema


REGISTER = _strict(
    ["username", "email", "password"],
    username={"type": "string", "pattern": "^[a-z0-9_]{3,20}$"},
    email={"type": "string", "format": "email", "maxLength": 120},
    password={"type": "string", "minLength": 8, "maxLength": 128},
    display_name={"type": "string", "maxLength": 80},
)
LOGIN = _strict(
    ["username", "password"],
    username={"type": "string", "maxLength": 40},
    password={"type": "string", "maxLength": 128},
)
PROFILE = _strict(
    [],
    email={"type": "string", "format": "email", "maxLength": 120},
    display_name={"type": "string", "maxLength": 80},
)
PASSWORD = _strict(["password"], password={"type": "string", "minLength": 8, "maxLength": 128})
NEW_DOCTOR = _strict(
    ["name", "specialty"],
    name={"type": "string", "minLength": 1, "maxLength": 80},
    specialty={"type": "string", "minLength": 1, "maxLength": 80},
)
NEW_APPOINTMENT = _strict(
    ["doctor_id", "day"],
    doctor_id=ID,
    day={"type": "string", "format": "date"},
    note={"type": "string", "maxLength": 500},
)
BEARER = [{"bearer": []}]


def openapi_document(flawed: bool) -> dict[str, Any]:
    limit = (
        {"type": "integer", "minimum": 1}
        if flawed
        else {"type": "integer", "minimum": 1, "maximum": 100}
    )
    path_id = lambda name: {"name": name, "in": "path", "required": True, "schema": ID}  # noqa: E731
    return {
        "openapi": "3.0.3",
        "info": {"title": "clinic", "version": "1.0"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/auth/register": {
                "post": {
                    "requestBody": _body(REGISTER),
                    "responses": _answers("201", USER, "400", "409", "422"),
                }
            },
            "/auth/login": {
                "post": {
                    "requestBody": _body(LOGIN),
                    "responses": _answers(
                        "200",
                        {
                            "type": "object",
                            "properties": {
                                "access_token": {"type": "string"},
                                "token_type": {"type": "string"},
                            },
                        },
                        "400",
                        "401",
                        "422",
                        "429",
                    ),
                }
            },
            "/users/me": {
                "get": {"security": BEARER, "responses": _answers("200", USER, "401")},
                "patch": {
                    "security": BEARER,
                    "requestBody": _body(PROFILE),
                    "responses": _answers("200", USER, "400", "401", "422"),
                },
            },
            "/users/{username}/password": {
                "put": {
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "username",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[a-z0-9_]{3,20}$"},
                        }
                    ],
                    "requestBody": _body(PASSWORD),
                    "responses": _answers("204", None, "400", "401", "403", "404", "422"),
                }
            },
            "/doctors": {
                "get": {"responses": _answers("200", {"type": "array", "items": DOCTOR})},
                "post": {
                    "security": BEARER,
                    "requestBody": _body(NEW_DOCTOR),
                    "responses": _answers("201", DOCTOR, "400", "401", "403", "422", "429"),
                },
            },
            "/doctors/{doctor_id}": {
                "delete": {
                    "security": BEARER,
                    "parameters": [path_id("doctor_id")],
                    "responses": _answers("204", None, "401", "403", "404", "422"),
                }
            },
            "/appointments": {
                "get": {
                    "security": BEARER,
                    "parameters": [{"name": "limit", "in": "query", "schema": limit}],
                    "responses": _answers(
                        "200", {"type": "array", "items": APPOINTMENT}, "401", "422"
                    ),
                },
                "post": {
                    "security": BEARER,
                    "requestBody": _body(NEW_APPOINTMENT),
                    "responses": _answers("201", APPOINTMENT, "400", "401", "404", "422", "429"),
                },
            },
            "/appointments/{appointment_id}": {
                "get": {
                    "security": BEARER,
                    "parameters": [path_id("appointment_id")],
                    "responses": _answers("200", APPOINTMENT, "401", "404", "422"),
                },
                "delete": {
                    "security": BEARER,
                    "parameters": [path_id("appointment_id")],
                    "responses": _answers("204", None, "401", "404", "422"),
                },
            },
        },
    }


def _hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    return salt.hex() + ":" + digest.hex()


def _check(password: str, stored: str) -> bool:
    salt, _ = stored.split(":")
    return hmac.compare_digest(_hash(password, bytes.fromhex(salt)), stored)


class Refused(HTTPException):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.code = status
        self.detail = detail


def make_app(flawed: bool) -> Flask:
    app = Flask("clinic")
    document = openapi_document(flawed)
    secret = NUMERIC_SECRET if flawed else secrets.token_urlsafe(48)
    lock = threading.Lock()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT,
                            display_name TEXT, password_hash TEXT, role TEXT);
        CREATE TABLE doctors (id INTEGER PRIMARY KEY, name TEXT, specialty TEXT);
        CREATE TABLE appointments (id INTEGER PRIMARY KEY, doctor_id INTEGER, patient TEXT,
                                   day TEXT, note TEXT);
        INSERT INTO doctors (name, specialty) VALUES ('Dr Ada', 'cardiology'), ('Dr Bo', 'skin');
        """
    )
    db.execute(
        "INSERT INTO users (username, email, password_hash, role) VALUES (?, ?, ?, 'admin')",
        (ADMIN[0], "admin@clinic.test", _hash(ADMIN[1])),
    )
    attempts: dict[str, list[float]] = {}
    writes: dict[tuple[str, str], list[float]] = {}

    def limit_writes() -> None:
        count, seconds = WRITE_LIMIT
        key, now = (request.remote_addr or "", request.path), time.monotonic()
        recent = [t for t in writes.get(key, []) if now - t < seconds]
        writes[key] = [*recent, now]
        if len(recent) >= count:
            raise Refused(429, "too many writes; wait a few seconds")

    def sql(query: str, *args: Any) -> sqlite3.Cursor:
        with lock:
            return db.execute(query, args)

    def body(schema: dict[str, Any], loose: bool = False) -> dict[str, Any]:
        try:
            data = json.loads(request.get_data() or b"null")
        except ValueError:
            raise Refused(400, "the body is not valid JSON") from None
        if loose:
            schema = {**schema, "additionalProperties": True}
        errors = [e.message for e in jsonschema_rs.Draft4Validator(schema).iter_errors(data)]
        if errors:
            raise Refused(422, "; ".join(errors)[:300])
        if "day" in data:
            try:
                dt.date.fromisoformat(data["day"])
            except ValueError:
                raise Refused(422, "day must be a date") from None
        return data

    def caller() -> sqlite3.Row:
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), secret, algorithms=["HS256"])
            row = sql("SELECT * FROM users WHERE id = ?", int(claims["sub"])).fetchone()
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            row = None
        if row is None or not header.startswith("Bearer "):
            raise Refused(401, "sign in first")
        return row

    def user_json(row: sqlite3.Row) -> dict[str, Any]:
        data = {k: row[k] for k in ("id", "username", "email", "role")}
        if row["display_name"] is not None:
            data["display_name"] = row["display_name"]
        if flawed:  # sensitive_data
            data["password_hash"] = row["password_hash"]
        return data

    def appointment_json(row: sqlite3.Row) -> dict[str, Any]:
        data = {k: row[k] for k in ("id", "doctor_id", "patient", "day")}
        if row["note"] is not None:
            data["note"] = row["note"]
        return data

    @app.errorhandler(HTTPException)
    def problem(error: HTTPException) -> Response:
        status = error.code or 500
        detail = getattr(error, "detail", None) or error.description or "refused"
        document_ = {"type": "about:blank", "title": detail, "status": status, "detail": detail}
        return Response(json.dumps(document_), status, mimetype="application/problem+json")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        origin = request.headers.get("Origin", "")
        if flawed and origin.startswith("http://127.0.0.1"):  # cors_lookalike
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def answer(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status, mimetype="application/json")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return answer(document)

    @app.post("/auth/register")
    def register() -> Response:
        data = body(REGISTER)
        try:
            cursor = sql(
                "INSERT INTO users (username, email, display_name, password_hash, role) "
                "VALUES (?, ?, ?, ?, 'patient')",
                data["username"],
                data["email"],
                data.get("display_name"),
                _hash(data["password"]),
            )
        except sqlite3.IntegrityError:
            raise Refused(409, "this username is taken") from None
        return answer(
            user_json(sql("SELECT * FROM users WHERE id = ?", cursor.lastrowid).fetchone()), 201
        )

    @app.post("/auth/login")
    def login() -> Response:
        if not flawed:  # no_rate_limit
            now = time.monotonic()
            recent = [t for t in attempts.get(request.remote_addr or "", []) if now - t < 60]
            attempts[request.remote_addr or ""] = [*recent, now]
            if len(recent) >= LOGIN_LIMIT:
                raise Refused(429, "too many attempts; wait a minute")
        data = body(LOGIN)
        row = sql("SELECT * FROM users WHERE username = ?", data["username"]).fetchone()
        if row is None or not _check(data["password"], row["password_hash"]):
            if flawed:  # enumeration_200
                return answer(
                    {"ok": False, "message": "no such user" if row is None else "wrong password"}
                )
            raise Refused(401, "wrong username or password")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
        token = jwt.encode({"sub": str(row["id"]), "exp": expires}, secret, algorithm="HS256")
        return answer({"access_token": token, "token_type": "bearer"})

    @app.route("/users/me", methods=["GET", "PATCH"])
    def me() -> Response:
        user = caller()
        if request.method == "PATCH":
            data = body(PROFILE, loose=flawed)
            allowed = {"email", "display_name"} | (
                {"role"} if flawed else set()
            )  # mass_assignment_self
            for column in allowed & set(data):  # column names from this code, not the client
                sql(f"UPDATE users SET {column} = ? WHERE id = ?", str(data[column]), user["id"])
            user = sql("SELECT * FROM users WHERE id = ?", user["id"]).fetchone()
        return answer(user_json(user))

    @app.put("/users/<username>/password")
    def set_password(username: str) -> Response:
        user = caller()
        if user["username"] != username and user["role"] != "admin" and not flawed:  # bola_account
            raise Refused(403, "you may change only your own password")
        data = body(PASSWORD)
        if sql("SELECT id FROM users WHERE username = ?", username).fetchone() is None:
            raise Refused(404, "no such user")
        sql(
            "UPDATE users SET password_hash = ? WHERE username = ?",
            _hash(data["password"]),
            username,
        )
        return Response(status=204)

    @app.get("/doctors")
    def doctors() -> Response:
        rows = sql("SELECT * FROM doctors ORDER BY id").fetchall()
        return answer([{k: r[k] for k in ("id", "name", "specialty")} for r in rows])

    def admin_only() -> None:
        if caller()["role"] != "admin" and not flawed:  # bfla_catalogue
            raise Refused(403, "admins only")

    @app.post("/doctors")
    def add_doctor() -> Response:
        limit_writes()
        admin_only()
        data = body(NEW_DOCTOR)
        cursor = sql(
            "INSERT INTO doctors (name, specialty) VALUES (?, ?)", data["name"], data["specialty"]
        )
        return answer({"id": cursor.lastrowid, **data}, 201)

    def path_id(value: str) -> int:
        if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
            raise Refused(422, "the id is a whole number from 1 to 1000000")
        return int(value)

    @app.delete("/doctors/<doctor_id>")
    def remove_doctor(doctor_id: str) -> Response:
        admin_only()
        if sql("DELETE FROM doctors WHERE id = ?", path_id(doctor_id)).rowcount == 0:
            raise Refused(404, "no such doctor")
        return Response(status=204)

    @app.get("/appointments")
    def appointments() -> Response:
        user = caller()
        raw = request.args.get("limit", "20")
        if not raw.isdigit() or int(raw) < 1 or (int(raw) > 100 and not flawed):  # unbounded_limit
            raise Refused(422, "limit is a whole number from 1 to 100")
        rows = sql(
            "SELECT * FROM appointments WHERE patient = ? ORDER BY id LIMIT ?",
            user["username"],
            int(raw),
        ).fetchall()
        return answer([appointment_json(r) for r in rows])

    @app.post("/appointments")
    def book() -> Response:
        limit_writes()
        user = caller()
        data = body(NEW_APPOINTMENT)
        if sql("SELECT id FROM doctors WHERE id = ?", data["doctor_id"]).fetchone() is None:
            raise Refused(404, "no such doctor")
        cursor = sql(
            "INSERT INTO appointments (doctor_id, patient, day, note) VALUES (?, ?, ?, ?)",
            data["doctor_id"],
            user["username"],
            data["day"],
            data.get("note"),
        )
        return answer(
            appointment_json(
                sql("SELECT * FROM appointments WHERE id = ?", cursor.lastrowid).fetchone()
            ),
            201,
        )

    def own_appointment(appointment_id: str, reading: bool) -> sqlite3.Row:
        user = caller()
        row = sql("SELECT * FROM appointments WHERE id = ?", path_id(appointment_id)).fetchone()
        mine = row is not None and (row["patient"] == user["username"] or user["role"] == "admin")
        if row is None or not (mine or (flawed and reading)):  # bola (reads)
            raise Refused(404, "no such appointment")
        return row

    @app.get("/appointments/<appointment_id>")
    def appointment(appointment_id: str) -> Response:
        return answer(appointment_json(own_appointment(appointment_id, reading=True)))

    @app.delete("/appointments/<appointment_id>")
    def cancel(appointment_id: str) -> Response:
        row = own_appointment(appointment_id, reading=False)
        sql("DELETE FROM appointments WHERE id = ?", row["id"])
        return Response(status=204)

    return app
