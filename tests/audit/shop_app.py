"""A small shop API written twice in one: with every flaw `backforge audit` looks for planted,
or with all of them fixed. `make_app(FLAWS)` plants them all, `make_app(frozenset())` none.

Each flaw is named; the tests map each name to the finding(s) that must report it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time
from typing import Any

import jsonschema_rs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from .shop_document import MAX_ID, openapi_document

FLAWS = frozenset(
    {
        "invalid_input_accepted",  # POST /api/products: price below its minimum is stored
        "server_error",  # GET /api/products/{id}: int() on the path value, a 500 for "abc"
        "debug_errors",  # 500s show Starlette's traceback page (stack trace, internal paths)
        "inconsistent_errors",  # 404s are {"error": ...}, the rest {"detail": ...}
        "sensitive_data",  # GET /api/users/me returns the password hash
        "anonymous_access",  # GET /api/stats is documented as secured but needs no token
        "jwt_alg_none",  # tokens with alg "none" are accepted
        "jwt_weak_secret",  # tokens are signed with the secret "secret"
        "jwt_numeric_secret",  # tokens are signed with a six-digit secret, in no dictionary
        "jwt_no_expiry",  # exp is never checked
        "jwt_no_verify",  # GET /api/legacy/profile does not verify the signature at all
        "user_enumeration",  # login and reset answer differently for unknown accounts
        "user_enumeration_200",  # failed logins answer 200 with a message naming the cause
        "bola",  # GET/PATCH /api/orders/{id} do not check the order's customer
        "bola_account",  # PUT /api/users/{email}/password changes anyone's password
        "bfla",  # GET /api/admin/users is open to every signed-in user
        "mass_assignment",  # POST /auth/register stores a client-sent role
        "mass_assignment_self",  # PATCH /api/users/me stores a client-sent role
        "mass_assignment_total",  # POST /api/orders takes a client-sent total over the computed one
        "sqli_error",  # GET /api/products?search= concatenates SQL and returns the error
        "sqli_boolean",  # GET /api/categories?name= concatenates SQL, errors swallowed
        "sqli_time",  # GET /api/stock-check?sku= concatenates SQL, answers the same whatever
        "unbounded_limit",  # GET /api/products?limit= has no maximum
        "huge_numbers",  # POST /api/orders quantity has no maximum
        "no_rate_limit",  # POST /auth/login is not rate limited
        "cors",  # CORS echoes any Origin with credentials
        "cors_loose",  # CORS allows origins starting with the API's own, and null, with credentials
        "missing_headers",  # no nosniff, no frame protection, no Cache-Control
        "version_banner",  # X-Powered-By with a version
        "debug_endpoint",  # GET /debug dumps the environment, undocumented
        "drift",  # GET /api/products/{id} returns price as a string; POST /api/orders answers 200
    }
)

LOGIN_LIMIT = 20  # attempts per client per minute, when rate limited


def _problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://shop.test/problems/{status}", "title": detail, "status": status}
    body.update({"detail": detail, **extra})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


# -- tokens ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, flaws: frozenset[str]) -> None:
        self.flaws = flaws
        self.key = secrets.token_bytes(32)
        if "jwt_numeric_secret" in flaws:
            self.key = b"480916"
        if "jwt_weak_secret" in flaws:
            self.key = b"secret"

    def issue(self, user_id: int) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        now = int(time.time())
        body = _b64(json.dumps({"sub": str(user_id), "iat": now, "exp": now + 900}).encode())
        sig = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def verify(self, token: str, *, legacy: bool = False) -> int | None:
        try:
            head, body, sig = token.split(".")
            header, claims = json.loads(_unb64(head)), json.loads(_unb64(body))
        except ValueError:
            return None
        alg = str(header.get("alg", ""))
        if alg.lower() == "none":
            if "jwt_alg_none" not in self.flaws:
                return None
        elif not (legacy and "jwt_no_verify" in self.flaws):
            if alg != "HS256":
                return None
            expected = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(sig)):
                return None
        if "jwt_no_expiry" not in self.flaws and int(claims.get("exp", 0)) < time.time():
            return None
        try:
            return int(claims["sub"])
        except (KeyError, ValueError):
            return None


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
    return f"pbkdf2_sha256$1000${salt}${digest}"


def check_password(password: str, stored: str) -> bool:
    _, rounds, salt, digest = stored.split("$")
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds)).hex()
    return hmac.compare_digest(candidate, digest)


# -- the app -----------------------------------------------------------------------------------
def make_app(flaws: frozenset[str] = FLAWS, prefix: str = "", terse_document: bool = False) -> Any:
    """The shop API; with a prefix (e.g. "/v1") it lives under it, as `servers` says.
    `terse_document`: the served document marks no request property required (many real ones
    do not), while the server still needs them."""
    flaws = frozenset(flaws)
    unknown = flaws - FLAWS
    assert not unknown, unknown
    doc = openapi_document(flaws)
    if prefix:
        doc["servers"] = [{"url": prefix}]
    schemas = doc["components"]["schemas"]
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT,
                            password_hash TEXT, role TEXT NOT NULL DEFAULT 'customer');
        CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL, stock INTEGER);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, product INTEGER,
                             quantity INTEGER, status TEXT DEFAULT 'pending', total REAL);
        INSERT INTO categories (name) VALUES ('books'), ('games'), ('tools');
        INSERT INTO products (name, price, stock) VALUES ('atlas', 12.5, 3), ('chess', 30, 10);
        """
    )
    # someone else's data, which the audit must never change without --allow-writes: order 1
    db.execute(
        "INSERT INTO users (email, name, password_hash) VALUES (?, ?, ?)",
        ("seed@example.com", "Seed", hash_password(secrets.token_urlsafe(16))),
    )
    db.execute("INSERT INTO orders (customer, product, quantity) VALUES (1, 1, 1)")
    # MySQL's SLEEP, so that a time-based probe has something to find in SQLite
    db.create_function("SLEEP", 1, lambda seconds: time.sleep(min(float(seconds), 5)) or 0)
    tokens = Tokens(flaws)
    attempts: dict[str, list[float]] = {}

    def validator(schema: dict[str, Any]) -> Any:
        return jsonschema_rs.Draft4Validator({**schema, "components": {"schemas": schemas}})

    def request_schema(path: str, method: str) -> dict[str, Any]:
        return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    def error(status: int, detail: str) -> Response:
        if "inconsistent_errors" in flaws and status == 404:
            return JSONResponse({"error": detail}, status_code=status)
        if "inconsistent_errors" in flaws:
            return JSONResponse({"detail": detail}, status_code=status)
        return _problem(status, detail)

    async def read_body(
        request: Request, path: str, method: str, *, validate: bool = True, extra: bool = False
    ) -> Any:
        """`extra`: properties the document does not name pass (a mass-assignment flaw)."""
        raw = await request.body()
        if "server_error" in flaws:
            data = json.loads(raw)  # a 500 on malformed JSON
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                raise HTTPException(400, "the body is not valid JSON") from None
        if validate:
            schema = request_schema(path, method)
            if extra:
                schema = {**schema, "additionalProperties": True}
            errors = [e.message for e in validator(schema).iter_errors(data)]
            if errors:
                raise HTTPException(422, "; ".join(errors)[:300])
        return data

    def current_user(request: Request, *, legacy: bool = False) -> sqlite3.Row:
        auth = request.headers.get("authorization", "")
        user_id = tokens.verify(auth[7:], legacy=legacy) if auth.startswith("Bearer ") else None
        row = (
            db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            if user_id
            else None
        )
        if row is None:
            raise HTTPException(401, "authentication required")
        return row

    def public_user(row: sqlite3.Row) -> dict[str, Any]:
        data = {"id": row["id"], "email": row["email"], "name": row["name"], "role": row["role"]}
        if "sensitive_data" in flaws:
            data["password_hash"] = row["password_hash"]
        return data

    def int_param(value: str) -> int:
        if "server_error" in flaws:
            return int(value)
        try:
            number = int(value)
        except ValueError:
            raise HTTPException(422, "id must be an integer") from None
        if not 1 <= number <= MAX_ID:
            raise HTTPException(422, f"id must be between 1 and {MAX_ID}")
        return number

    async def register(request: Request) -> Response:
        data = await read_body(
            request, "/auth/register", "post", validate="mass_assignment" not in flaws
        )
        if not isinstance(data, dict) or not data.get("email") or not data.get("password"):
            raise HTTPException(422, "email and password are required")
        role = data.get("role", "customer") if "mass_assignment" in flaws else "customer"
        try:
            cur = db.execute(
                "INSERT INTO users (email, name, password_hash, role) VALUES (?, ?, ?, ?)",
                (
                    str(data["email"]),
                    str(data.get("name", "")),
                    hash_password(str(data["password"])),
                    str(role),
                ),
            )
        except sqlite3.IntegrityError:
            raise HTTPException(409, "this email cannot be registered") from None
        row = db.execute("SELECT * FROM users WHERE id = ?", (cur.lastrowid,)).fetchone()
        return JSONResponse(public_user(row), status_code=201)

    async def login(request: Request) -> Response:
        if "no_rate_limit" not in flaws:
            client = request.client.host if request.client else "?"
            now = time.monotonic()
            recent = [t for t in attempts.get(client, []) if now - t < 60]
            recent.append(now)
            attempts[client] = recent
            if len(recent) > LOGIN_LIMIT:
                raise HTTPException(429, "too many login attempts")
        data = await read_body(request, "/auth/login", "post")
        row = db.execute("SELECT * FROM users WHERE email = ?", (data["email"],)).fetchone()
        if row is None and "user_enumeration" in flaws:
            raise HTTPException(404, "no account with this email")
        if row is None or not check_password(data["password"], row["password_hash"]):
            if "user_enumeration_200" in flaws:
                cause = "no such account" if row is None else "wrong password"
                return JSONResponse({"ok": False, "message": cause})
            raise HTTPException(
                401, "wrong password" if "user_enumeration" in flaws else "invalid credentials"
            )
        return JSONResponse({"access_token": tokens.issue(row["id"]), "token_type": "bearer"})

    async def reset_password(request: Request) -> Response:
        data = await read_body(request, "/auth/reset-password", "post")
        row = db.execute("SELECT id FROM users WHERE email = ?", (data["email"],)).fetchone()
        if row is None and "user_enumeration" in flaws:
            raise HTTPException(404, "no account with this email")
        return Response(status_code=202)

    async def me(request: Request) -> Response:
        user = current_user(request)
        if request.method == "PATCH":
            flawed = "mass_assignment_self" in flaws
            data = await read_body(request, "/api/users/me", "patch", validate=not flawed)
            changes = {"name": str(data.get("name", user["name"]))}
            if flawed and "role" in data:
                changes["role"] = str(data["role"])
            for column, value in changes.items():  # column names from this code, not the client
                db.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user["id"]))
            user = db.execute("SELECT * FROM users WHERE id = ?", (user["id"],)).fetchone()
        return JSONResponse(public_user(user))

    async def set_password(request: Request) -> Response:
        caller = current_user(request)
        email = request.path_params["email"]
        if caller["email"] != email and "bola_account" not in flaws:
            raise HTTPException(403, "you may change only your own password")
        data = await read_body(request, "/api/users/{email}/password", "put")
        row = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such user")
        new_hash = hash_password(str(data["password"]))
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, row["id"]))
        return Response(status_code=204)

    async def legacy_profile(request: Request) -> Response:
        return JSONResponse(public_user(current_user(request, legacy=True)))

    async def stats(request: Request) -> Response:
        if "anonymous_access" not in flaws:
            current_user(request)
        return JSONResponse({"orders": db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]})

    async def admin_users(request: Request) -> Response:
        user = current_user(request)
        if user["role"] != "admin" and "bfla" not in flaws:
            raise HTTPException(403, "admins only")
        rows = db.execute("SELECT * FROM users ORDER BY id").fetchall()
        return JSONResponse([public_user(r) for r in rows])

    async def stock_check(request: Request) -> Response:
        sku = request.query_params.get("sku", "")
        if "sqli_time" in flaws:
            # blind: the answer never depends on the query, only its duration does
            sql = f"SELECT 1 FROM products WHERE id = 1 AND name != '{sku}'"
            with contextlib.suppress(sqlite3.Error):
                db.execute(sql).fetchall()
        else:
            db.execute("SELECT 1 FROM products WHERE id = 1 AND name != ?", (sku,)).fetchall()
        return JSONResponse({"checked": True})

    async def categories(request: Request) -> Response:
        name = request.query_params.get("name")
        if name is None:
            rows = db.execute("SELECT id, name FROM categories").fetchall()
        elif "sqli_boolean" in flaws:
            try:
                rows = db.execute(
                    f"SELECT id, name FROM categories WHERE name = '{name}'"
                ).fetchall()
            except sqlite3.Error:
                rows = []
        else:
            rows = db.execute("SELECT id, name FROM categories WHERE name = ?", (name,)).fetchall()
        return JSONResponse([dict(r) for r in rows])

    def product_json(row: sqlite3.Row, *, drift: bool = False) -> dict[str, Any]:
        price: Any = row["price"]
        if drift and "drift" in flaws:
            price = str(price)
        return {"id": row["id"], "name": row["name"], "price": price, "stock": row["stock"]}

    async def products(request: Request) -> Response:
        if request.method == "POST":
            current_user(request)
            data = await read_body(
                request, "/api/products", "post", validate="invalid_input_accepted" not in flaws
            )
            cur = db.execute(
                "INSERT INTO products (name, price, stock) VALUES (?, ?, ?)",
                (str(data.get("name")), data.get("price"), data.get("stock", 0)),
            )
            row = db.execute("SELECT * FROM products WHERE id = ?", (cur.lastrowid,)).fetchone()
            return JSONResponse(product_json(row), status_code=201)
        raw_limit = request.query_params.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise HTTPException(422, "limit must be an integer") from None
        if limit < 1 or (limit > 100 and "unbounded_limit" not in flaws):
            raise HTTPException(422, "limit must be between 1 and 100")
        search = request.query_params.get("search", "")
        expression = request.query_params.get("filter")
        if expression is not None:
            # a tiny filter language whose errors quote the input's words: not an injection
            match = re.fullmatch(r"(name|sku)\s*=\s*'([^']*)'", expression)
            if match is None:
                keywords = [w for w in re.findall(r"[A-Za-z]+", expression) if w.isupper()]
                raise HTTPException(400, f"cannot parse filter: unknown {', '.join(keywords)}")
            search = match.group(2)
        if "sqli_error" in flaws:
            sql = f"SELECT * FROM products WHERE name LIKE '%{search}%' LIMIT {limit}"
            try:
                rows = db.execute(sql).fetchall()
            except sqlite3.Error as exc:
                return JSONResponse({"detail": f"sqlite3.OperationalError: {exc} in {sql}"}, 500)
        else:
            rows = db.execute(
                "SELECT * FROM products WHERE name LIKE ? LIMIT ?", (f"%{search}%", limit)
            ).fetchall()
        return JSONResponse({"items": [product_json(r) for r in rows], "limit": limit})

    async def product(request: Request) -> Response:
        product_id = int_param(request.path_params["id"])
        row = db.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such product")
        return JSONResponse(product_json(row, drift=True))

    def order_json(row: sqlite3.Row) -> dict[str, Any]:
        return dict(row)

    async def orders(request: Request) -> Response:
        user = current_user(request)
        if request.method == "POST":
            flawed = "mass_assignment_total" in flaws
            data = await read_body(request, "/api/orders", "post", extra=flawed)
            product = db.execute(
                "SELECT price FROM products WHERE id = ?", (data["product"],)
            ).fetchone()
            if product is None:
                raise HTTPException(404, "no such product")
            total = product["price"] * int(data["quantity"])
            if flawed and isinstance(data.get("total"), int | float):
                total = data["total"]
            cur = db.execute(
                "INSERT INTO orders (customer, product, quantity, total) VALUES (?, ?, ?, ?)",
                (user["id"], data["product"], str(data["quantity"]), total),
            )
            row = db.execute("SELECT * FROM orders WHERE id = ?", (cur.lastrowid,)).fetchone()
            status = 200 if "drift" in flaws else 201
            out = order_json(row)
            out["quantity"] = data["quantity"]
            return JSONResponse(out, status_code=status)
        rows = db.execute("SELECT * FROM orders WHERE customer = ?", (user["id"],)).fetchall()
        return JSONResponse([order_json(r) for r in rows])

    async def order(request: Request) -> Response:
        user = current_user(request)
        order_id = int_param(request.path_params["id"])
        row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None or (row["customer"] != user["id"] and "bola" not in flaws):
            raise HTTPException(404, "no such order")
        if request.method == "PATCH":
            data = await read_body(request, "/api/orders/{id}", "patch")
            if "quantity" in data:
                db.execute(
                    "UPDATE orders SET quantity = ? WHERE id = ?", (data["quantity"], order_id)
                )
            row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if request.method == "DELETE":
            db.execute("DELETE FROM orders WHERE id = ?", (order_id,))
            return Response(status_code=204)
        return JSONResponse(order_json(row))

    served = _without_required_bodies(doc) if terse_document else doc

    async def openapi(request: Request) -> Response:
        return JSONResponse(served)

    async def debug(request: Request) -> Response:
        return JSONResponse({"env": dict(os.environ), "pid": os.getpid()})

    routes = [
        Route("/openapi.json", openapi),
        Route("/auth/register", register, methods=["POST"]),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/reset-password", reset_password, methods=["POST"]),
        Route("/api/users/me", me, methods=["GET", "PATCH"]),
        Route("/api/users/{email}/password", set_password, methods=["PUT"]),
        Route("/api/legacy/profile", legacy_profile),
        Route("/api/stats", stats),
        Route("/api/admin/users", admin_users),
        Route("/api/categories", categories),
        Route("/api/stock-check", stock_check),
        Route("/api/products", products, methods=["GET", "POST"]),
        Route("/api/products/{id}", product),
        Route("/api/orders", orders, methods=["GET", "POST"]),
        Route("/api/orders/{id}", order, methods=["GET", "PATCH", "DELETE"]),
    ]
    if "debug_endpoint" in flaws:
        routes.append(Route("/debug", debug))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        return _problem(500, "internal error")

    handlers: dict[Any, Any] = {HTTPException: http_error}
    if "debug_errors" not in flaws:
        handlers[Exception] = server_error
    if prefix:
        routes = [Mount(prefix, routes=routes)]
    app = Starlette(debug="debug_errors" in flaws, routes=routes, exception_handlers=handlers)
    return HeadersMiddleware(app, flaws)


def _without_required_bodies(doc: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(doc))
    for item in copy["paths"].values():
        for operation in item.values():
            content = (operation.get("requestBody") or {}).get("content") or {}
            for media in content.values():
                media.get("schema", {}).pop("required", None)
    return copy


class HeadersMiddleware:
    """CORS, security headers and banners, outermost so that they apply to every response."""

    def __init__(self, app: Any, flaws: frozenset[str]) -> None:
        self.app = app
        self.flaws = flaws
        self.seen: list[dict[str, Any]] = []  # method, path, query and body of every request

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = {"method": scope["method"], "path": scope["path"], "body": b""}
        seen["query"] = scope.get("query_string", b"")
        self.seen.append(seen)
        upstream = receive

        async def receive() -> Any:
            message = await upstream()
            if message["type"] == "http.request":
                seen["body"] += message.get("body", b"")
            return message

        origin = next((v.decode() for k, v in scope["headers"] if k == b"origin"), None)
        flaws = self.flaws

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A sloppy allow-list: any origin starting with the API's own, and null.
                loose = origin is not None and (
                    origin == "null" or origin.startswith("http://127.0.0.1")
                )
                if origin and ("cors" in flaws or ("cors_loose" in flaws and loose)):
                    headers.append((b"access-control-allow-origin", origin.encode()))
                    headers.append((b"access-control-allow-credentials", b"true"))
                if "missing_headers" not in flaws:
                    headers.append((b"x-content-type-options", b"nosniff"))
                    headers.append((b"x-frame-options", b"DENY"))
                    headers.append((b"cache-control", b"no-store"))
                if "version_banner" in flaws:
                    headers.append((b"x-powered-by", b"Express/4.17.1"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
