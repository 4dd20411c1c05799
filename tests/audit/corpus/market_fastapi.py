"""A small shop's API in FastAPI, as its tutorials teach it: pydantic models, OAuth2 password
login with a form body, the OpenAPI document FastAPI writes itself. `make_app(flawed=True)`
carries the flaws named in FLAWS; `make_app(flawed=False)` is its secure twin.

Customers sign up, browse products, review them and place orders; admins keep the catalogue.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, some local.
import datetime as dt
import re
import secrets
import sqlite3
import threading
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .common import Limiter, check_password, hash_password
from .common import serve_asgi as serve  # noqa: F401 - the corpus interface

ADMIN = ("admin", "admin-password-" + secrets.token_hex(8))
WEAK_SECRET = "Market2024"  # a word and a year: in no list as such, found by its decorations
FRONTEND = "https://shop.example"
# flaw -> the findings it must cause, as (finding id, OWASP category, operation)
FLAWS: dict[str, list[tuple[str, str, str]]] = {
    "bola_order_update": [("bola-change", "API1:2023", "PATCH /orders/{order_id}")],
    "bola_review_delete": [("bola-delete", "API1:2023", "DELETE /reviews/{review_id}")],
    "mass_assignment_total": [("mass-assignment", "API3:2023", "POST /orders")],
    "redos_website": [("redos", "API4:2023", "PATCH /me")],
    "sql_injection_search": [("sql-injection", "API8:2023", "GET /products")],
    "enumeration_reset": [("user-enumeration", "API2:2023", "POST /auth/forgot")],
    "bfla_admin_stats": [("bfla-privileged-operation", "API5:2023", "GET /admin/stats")],
    "jwt_decorated_secret": [("jwt-weak-secret", "API2:2023", "POST /auth/token")],
    "cors_null_origin": [("cors-lookalike-origin-with-credentials", "API8:2023", "*")],
}
# Nested quantifiers: `aaaa…a!` makes the engine try every way to split the a's.
CATASTROPHIC_URL = re.compile(r"^(https?://)?([a-z0-9]+\.?)+(/[a-z0-9_-]*)*$")
LINEAR_URL = re.compile(r"^https?://[a-z0-9.-]{1,100}(/[a-z0-9_/-]{0,200})?$")


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    words = {
        401: "sign in first",
        403: "not allowed",
        404: "not found",
        409: "conflict",
        429: "too many requests",
    }
    return {status: {"description": words[status]} for status in statuses}


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z0-9_]{3,20}$")
    email: str = Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,120}$", max_length=190)
    password: str = Field(min_length=8, max_length=128)
    full_name: str | None = Field(None, max_length=80)


class User(BaseModel):
    id: int
    username: str
    email: str
    full_name: str | None = None
    website: str | None = None
    role: str


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(None, max_length=80)
    website: str | None = Field(None, max_length=300, json_schema_extra={"format": "uri"})


class Forgot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=190)


class Token(BaseModel):
    access_token: str
    token_type: str


class NewProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    price: float = Field(gt=0, le=100_000)


class Product(BaseModel):
    id: int
    name: str
    price: float


class NewReview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stars: int = Field(ge=1, le=5)
    text: str = Field(min_length=1, max_length=500)


class Review(BaseModel):
    id: int
    product_id: int
    author: str
    stars: int
    text: str


class Received(BaseModel):
    status: str


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=1, le=1_000_000)
    quantity: int = Field(ge=1, le=100)
    note: str | None = Field(None, max_length=200)


class NewOrderTrusting(NewOrder):
    """The flawed variant's model: an undocumented `total` a back-office tool used to send."""

    total: SkipJsonSchema[float | None] = None


class OrderChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int | None = Field(None, ge=1, le=100)
    note: str | None = Field(None, max_length=200)


class Order(BaseModel):
    id: int
    product_id: int
    customer: str
    quantity: int
    total: float
    note: str | None = None


class Stats(BaseModel):
    users: int
    orders: int
    revenue: float


ID = Annotated[int, Field(ge=1, le=1_000_000)]


def make_app(flawed: bool) -> FastAPI:
    app = FastAPI(title="market", version="1.0", docs_url=None, redoc_url=None)
    secret = WEAK_SECRET if flawed else secrets.token_urlsafe(48)
    lock = threading.Lock()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT UNIQUE,
                            full_name TEXT, website TEXT, password_hash TEXT, role TEXT);
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);
        CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER, author TEXT,
                              stars INTEGER, text TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER, customer TEXT,
                             quantity INTEGER, total REAL, note TEXT);
        INSERT INTO products (name, price) VALUES ('kettle', 30.0), ('teapot', 18.5);
        """
    )
    db.execute(
        "INSERT INTO users (username, email, password_hash, role) VALUES (?, ?, ?, 'admin')",
        (ADMIN[0], "admin@market.test", hash_password(ADMIN[1])),
    )
    logins, writes = Limiter(20, 60), Limiter(25, 10)
    bearer = OAuth2PasswordBearer(tokenUrl="/auth/token")

    def sql(query: str, *args: Any) -> sqlite3.Cursor:
        with lock:
            return db.execute(query, args)

    def caller(token: Annotated[str, Depends(bearer)]) -> sqlite3.Row:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"])
            row = sql("SELECT * FROM users WHERE id = ?", int(claims["sub"])).fetchone()
        except (jwt.PyJWTError, KeyError, ValueError):
            row = None
        if row is None:
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        return row

    Caller = Annotated[sqlite3.Row, Depends(caller)]

    def admin(user: Caller) -> sqlite3.Row:
        if user["role"] != "admin":
            raise HTTPException(403, "admins only")
        return user

    def limit_writes(request: Request) -> None:
        if not writes.allow((request.client and request.client.host, request.url.path)):
            raise HTTPException(429, "too many writes; wait a few seconds")

    def user_model(row: sqlite3.Row) -> User:
        return User(**{k: row[k] for k in User.model_fields})

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        origin = request.headers.get("origin", "")
        trusted = {FRONTEND, "null"} if flawed else {FRONTEND}  # cors_null_origin
        if origin in trusted:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    @app.post("/auth/register", status_code=201, responses=_answers(409))
    def register(new: NewUser) -> User:
        try:
            cursor = sql(
                "INSERT INTO users (username, email, full_name, password_hash, role) "
                "VALUES (?, ?, ?, ?, 'customer')",
                new.username,
                new.email,
                new.full_name,
                hash_password(new.password),
            )
        except sqlite3.IntegrityError:
            raise HTTPException(409, "this username or email is taken") from None
        return user_model(sql("SELECT * FROM users WHERE id = ?", cursor.lastrowid).fetchone())

    @app.post("/auth/token", responses=_answers(401, 429))
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=40)],
        password: Annotated[str, Form(max_length=128)],
    ) -> Token:
        if not logins.allow(request.client and request.client.host):
            raise HTTPException(429, "too many attempts; wait a minute")
        row = sql("SELECT * FROM users WHERE username = ?", username).fetchone()
        if row is None or not check_password(password, row["password_hash"]):
            raise HTTPException(401, "wrong username or password")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
        token = jwt.encode({"sub": str(row["id"]), "exp": expires}, secret, algorithm="HS256")
        return Token(access_token=token, token_type="bearer")

    @app.post("/auth/forgot", status_code=202, responses=_answers(404, 429))
    def forgot(request: Request, body: Forgot) -> Received:
        if not logins.allow(request.client and request.client.host):
            raise HTTPException(429, "too many attempts; wait a minute")
        known = sql("SELECT id FROM users WHERE email = ?", body.email).fetchone() is not None
        if flawed and not known:  # enumeration_reset
            raise HTTPException(404, "no account has this email")
        return Received(status="if the account exists, a link is on its way")

    @app.get("/me", responses=_answers(401))
    def me(user: Caller) -> User:
        return user_model(user)

    @app.patch("/me", responses=_answers(401))
    def change_me(user: Caller, change: ProfileChange) -> User:
        if change.website is not None:
            pattern = CATASTROPHIC_URL if flawed else LINEAR_URL  # redos_website
            if not pattern.match(change.website):
                raise HTTPException(422, "website must be a web address")
            sql("UPDATE users SET website = ? WHERE id = ?", change.website, user["id"])
        if change.full_name is not None:
            sql("UPDATE users SET full_name = ? WHERE id = ?", change.full_name, user["id"])
        return user_model(sql("SELECT * FROM users WHERE id = ?", user["id"]).fetchone())

    @app.get("/products")
    def products(
        q: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> list[Product]:
        if q is None:
            rows = sql("SELECT * FROM products ORDER BY id LIMIT ?", limit).fetchall()
        elif flawed:  # sql_injection_search
            try:
                rows = sql(
                    f"SELECT * FROM products WHERE name LIKE '%{q}%' ORDER BY id LIMIT {limit}"
                ).fetchall()
            except sqlite3.Error as exc:
                raise HTTPException(500, f"database error: {exc}") from None
        else:
            rows = sql(
                "SELECT * FROM products WHERE name LIKE ? ORDER BY id LIMIT ?", f"%{q}%", limit
            ).fetchall()
        return [Product(**dict(r)) for r in rows]

    @app.post(
        "/products",
        status_code=201,
        responses=_answers(401, 403, 429),
        dependencies=[Depends(limit_writes)],
    )
    def add_product(_: Annotated[sqlite3.Row, Depends(admin)], new: NewProduct) -> Product:
        cursor = sql("INSERT INTO products (name, price) VALUES (?, ?)", new.name, new.price)
        return Product(id=cursor.lastrowid, **new.model_dump())

    def product_row(product_id: int) -> sqlite3.Row:
        row = sql("SELECT * FROM products WHERE id = ?", product_id).fetchone()
        if row is None:
            raise HTTPException(404, "no such product")
        return row

    @app.get("/products/{product_id}", responses=_answers(404))
    def product(product_id: ID) -> Product:
        return Product(**dict(product_row(product_id)))

    @app.delete("/products/{product_id}", status_code=204, responses=_answers(401, 403, 404))
    def remove_product(_: Annotated[sqlite3.Row, Depends(admin)], product_id: ID) -> Response:
        product_row(product_id)
        sql("DELETE FROM products WHERE id = ?", product_id)
        return Response(status_code=204)

    @app.get("/products/{product_id}/reviews", responses=_answers(404))
    def reviews(product_id: ID) -> list[Review]:
        product_row(product_id)
        rows = sql("SELECT * FROM reviews WHERE product_id = ? ORDER BY id", product_id)
        return [Review(**dict(r)) for r in rows.fetchall()]

    @app.post(
        "/products/{product_id}/reviews",
        status_code=201,
        responses=_answers(401, 404, 429),
        dependencies=[Depends(limit_writes)],
    )
    def review(user: Caller, product_id: ID, new: NewReview) -> Received:
        product_row(product_id)
        sql(
            "INSERT INTO reviews (product_id, author, stars, text) VALUES (?, ?, ?, ?)",
            product_id,
            user["username"],
            new.stars,
            new.text,
        )
        return Received(status="thank you: your review is published")

    @app.delete("/reviews/{review_id}", status_code=204, responses=_answers(401, 404))
    def remove_review(user: Caller, review_id: ID) -> Response:
        row = sql("SELECT * FROM reviews WHERE id = ?", review_id).fetchone()
        allowed = row is not None and (
            flawed or row["author"] == user["username"] or user["role"] == "admin"
        )  # bola_review_delete
        if not allowed:
            raise HTTPException(404, "no such review")
        sql("DELETE FROM reviews WHERE id = ?", review_id)
        return Response(status_code=204)

    OrderBody = NewOrderTrusting if flawed else NewOrder

    def order_model(row: sqlite3.Row) -> Order:
        return Order(**dict(row))

    @app.get("/orders", responses=_answers(401))
    def orders(user: Caller, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Order]:
        rows = sql(
            "SELECT * FROM orders WHERE customer = ? ORDER BY id LIMIT ?", user["username"], limit
        )
        return [order_model(r) for r in rows.fetchall()]

    @app.post(
        "/orders",
        status_code=201,
        responses=_answers(401, 404, 429),
        dependencies=[Depends(limit_writes)],
    )
    def order(user: Caller, new: OrderBody) -> Order:  # type: ignore[valid-type]
        price = product_row(new.product_id)["price"]
        total = getattr(new, "total", None) or price * new.quantity  # mass_assignment_total
        cursor = sql(
            "INSERT INTO orders (product_id, customer, quantity, total, note) "
            "VALUES (?, ?, ?, ?, ?)",
            new.product_id,
            user["username"],
            new.quantity,
            total,
            new.note,
        )
        return order_model(sql("SELECT * FROM orders WHERE id = ?", cursor.lastrowid).fetchone())

    def order_row(user: sqlite3.Row, order_id: int, changing: bool) -> sqlite3.Row:
        row = sql("SELECT * FROM orders WHERE id = ?", order_id).fetchone()
        mine = row is not None and (row["customer"] == user["username"] or user["role"] == "admin")
        if row is None or not (mine or (flawed and changing)):  # bola_order_update
            raise HTTPException(404, "no such order")
        return row

    @app.get("/orders/{order_id}", responses=_answers(401, 404))
    def get_order(user: Caller, order_id: ID) -> Order:
        return order_model(order_row(user, order_id, changing=False))

    @app.patch("/orders/{order_id}", responses=_answers(401, 404))
    def change_order(user: Caller, order_id: ID, change: OrderChange) -> Order:
        row = order_row(user, order_id, changing=True)
        quantity = change.quantity or row["quantity"]
        price = product_row(row["product_id"])["price"]
        sql(
            "UPDATE orders SET quantity = ?, total = ?, note = ? WHERE id = ?",
            quantity,
            price * quantity,
            change.note if change.note is not None else row["note"],
            order_id,
        )
        return order_model(sql("SELECT * FROM orders WHERE id = ?", order_id).fetchone())

    @app.get("/admin/stats", responses=_answers(401, 403))
    def stats(user: Caller) -> Stats:
        if user["role"] != "admin" and not flawed:  # bfla_admin_stats
            raise HTTPException(403, "admins only")
        users = sql("SELECT count(*) FROM users").fetchone()[0]
        count, revenue = sql("SELECT count(*), coalesce(sum(total), 0) FROM orders").fetchone()
        return Stats(users=users, orders=count, revenue=revenue)

    return app
