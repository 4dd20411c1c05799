"""The ceiling: Starlette + orjson answering the same JSON from memory.

No database at all; it shows what the HTTP stack alone costs on this machine.
It still checks the bearer token (HS256, verified once per token and cached until
it expires) and validates POST bodies, so each request does the same kind of work.

    BENCH_DATA=dataset.json BENCH_JWT_SECRET=... uvicorn ceiling:app
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET = os.environ.get("BENCH_JWT_SECRET", "").encode()
STATUSES = ("draft", "published", "archived")

with open(os.environ["BENCH_DATA"], "rb") as f:
    POSTS: list[dict] = sorted(orjson.loads(f.read()), key=lambda p: p["created"], reverse=True)
BY_ID = {p["id"]: p for p in POSTS}
# Filtered views, newest first, built on first use and kept current on create.
FILTERED: dict[tuple[str | None, int | None], list[dict]] = {}
_verified: dict[str, float] = {}


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _authorized(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return False
    token = header[7:]
    exp = _verified.get(token)
    now = time.time()
    if exp is not None:
        return exp > now
    try:
        head, payload, sig = token.split(".")
        expected = hmac.new(SECRET, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64decode(sig)):
            return False
        exp = float(orjson.loads(_b64decode(payload))["exp"])
    except (ValueError, KeyError):
        return False
    _verified[token] = exp
    return exp > now


def _json(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


_UNAUTHORIZED = {"detail": "not authenticated"}


def _matches(post: dict, status: str | None, views_gt: int | None) -> bool:
    return (status is None or post["status"] == status) and (
        views_gt is None or post["views"] > views_gt
    )


def _view(status: str | None, views_gt: int | None) -> list[dict]:
    if status is None and views_gt is None:
        return POSTS
    key = (status, views_gt)
    view = FILTERED.get(key)
    if view is None:
        view = FILTERED[key] = [p for p in POSTS if _matches(p, status, views_gt)]
    return view


async def list_posts(request: Request) -> Response:
    if not _authorized(request):
        return _json(_UNAUTHORIZED, 401)
    q = request.query_params
    try:
        limit = min(max(int(q.get("limit", 20)), 1), 100)
        views_gt = int(q["views_gt"]) if "views_gt" in q else None
    except ValueError:
        return _json({"detail": "bad query"}, 400)
    view = _view(q.get("status"), views_gt)
    page: dict = {"items": view[:limit]}
    if q.get("total") in ("true", "1"):
        page["total"] = len(view)
    return _json(page)


async def get_post(request: Request) -> Response:
    if not _authorized(request):
        return _json(_UNAUTHORIZED, 401)
    post = BY_ID.get(request.path_params["post_id"])
    if post is None:
        return _json({"detail": "not found"}, 404)
    return _json(post)


def _validate(data) -> list[str]:
    if not isinstance(data, dict):
        return ["body must be an object"]
    errors = []
    allowed = {"title", "body", "author", "status", "views"}
    errors += [f"{k}: unknown field" for k in data if k not in allowed]
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 200:
        errors.append("title: required text of at most 200 characters")
    for name, limit in (("body", 10_000), ("author", 100)):
        value = data.get(name, "")
        if not isinstance(value, str) or len(value) > limit:
            errors.append(f"{name}: text of at most {limit} characters")
    if data.get("status", "draft") not in STATUSES:
        errors.append("status: one of draft, published, archived")
    views = data.get("views", 0)
    if not isinstance(views, int) or isinstance(views, bool) or views < 0:
        errors.append("views: integer >= 0")
    return errors


async def create_post(request: Request) -> Response:
    if not _authorized(request):
        return _json(_UNAUTHORIZED, 401)
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _json({"detail": "invalid JSON"}, 400)
    errors = _validate(data)
    if errors:
        return _json({"detail": "invalid post", "errors": errors}, 422)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    post = {
        "id": secrets.token_hex(8)[:15],
        "title": data["title"],
        "body": data.get("body", ""),
        "author": data.get("author", ""),
        "status": data.get("status", "draft"),
        "views": data.get("views", 0),
        "created": now,
    }
    POSTS.insert(0, post)
    BY_ID[post["id"]] = post
    for (status, views_gt), view in FILTERED.items():
        if _matches(post, status, views_gt):
            view.insert(0, post)
    return _json(post, 201)


app = Starlette(
    routes=[
        Route("/posts", list_posts, methods=["GET"]),
        Route("/posts", create_post, methods=["POST"]),
        Route("/posts/{post_id}", get_post, methods=["GET"]),
    ]
)
