"""The admin dashboard: a page shipped in the package (`static/dashboard/`, no CDN, its own
strict CSP) that works through the API as an admin — the record routes (so validation, hooks,
versions and rules run as for any client), the jobs and explain endpoints — plus the few
admin endpoints it alone needs, here: the declaration's shape, migration status, and an
account's logins and API keys.

The page holds its credential (the admin token, or an admin account's access token) in the
tab's sessionStorage and sends it as a bearer header: no cookie carries it, so no other site
can make the browser act with it (CSRF), and the CSP admits only the page's own script."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..auth.components import AuthComponents
from ..spec.model import Collection
from ..spec.semantics import CALLER_DEFAULT
from ..spec.server import Dashboard as DashboardSettings
from ..store.caller import Caller
from ..store.records import RecordStore
from .docs_pages import page, static_file
from .offload import Offload
from .problems import ProblemError
from .records import json_response

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_OPERATIONS = ("list", "view", "create", "update", "delete")
_FIELD_OPTIONS = (
    "required",
    "readonly",
    "multiple",
    "values",
    "to",
    "accept",
    "thumbs",
    "max_size",
    "description",
)


def dashboard_routes(
    store: RecordStore,
    caller_of: Callable[[Request], Caller],
    auth: AuthComponents | None,
    settings: DashboardSettings,
    migrations_dir: Path | None,
) -> list[Route]:
    if not settings.enabled:
        return []
    base = settings.path
    run = Offload(store).run

    async def index(_request: Request) -> Response:
        response = page("dashboard/index.html", DASHBOARD_CSP)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            raise ProblemError(404, "not-found", "no such file")
        return static_file(f"dashboard/{name}", _ASSETS[name])

    async def bare(_request: Request) -> Response:
        return RedirectResponse(base, status_code=308)

    def admin_only(request: Request) -> None:
        caller = caller_of(request)
        if caller.is_anonymous:
            raise ProblemError(401, "unauthorized", "sign in as an admin")
        if not caller.is_admin:
            raise ProblemError(403, "forbidden", "the dashboard is for admins")

    async def shape(request: Request) -> Response:
        """GET /api/admin/schema: the collections as the dashboard draws them."""
        admin_only(request)
        return json_response(_shape(store, auth))

    async def migrations(request: Request) -> Response:
        """GET /api/admin/migrations: applied and pending plans, and what the database lacks."""
        admin_only(request)
        # The migration planner (Alembic) is loaded when asked for, not by every served app.
        from ..schema.migrations.api import migration_status, pending_changes

        if migrations_dir is not None and migrations_dir.is_dir():
            status = await run(migration_status, store.engine, store.spec, migrations_dir)
            return json_response(
                {
                    "up_to_date": status.up_to_date,
                    "applied": [
                        {"name": m.name, "applied_at": m.applied_at.isoformat()}
                        for m in status.applied
                    ],
                    "pending": status.pending,
                    "modified": status.modified,
                    "drift": [str(change) for change in status.drift],
                }
            )
        changes = await run(pending_changes, store.engine, store.spec)
        drift = [str(change) for change in changes]
        return json_response(
            {"up_to_date": not drift, "applied": [], "pending": [], "modified": [], "drift": drift}
        )

    routes = [
        Route(base.rstrip("/"), bare, methods=["GET"]),
        Route(base, index, methods=["GET"]),
        Route(base + "{name}", asset, methods=["GET"]),
        Route("/api/admin/schema", shape, methods=["GET"]),
        Route("/api/admin/migrations", migrations, methods=["GET"]),
    ]
    if auth is not None:
        routes += _account_routes(store, auth, admin_only)
    return routes


def _account_routes(
    store: RecordStore, auth: AuthComponents, admin_only: Callable[[Request], None]
) -> list[Route]:
    run = Offload(store).run

    def account(request: Request) -> Caller:
        admin_only(request)
        collection = request.path_params["collection"]
        if collection not in auth.service.options:
            raise ProblemError(404, "not-found", f"{collection} is not an auth collection")
        return Caller(id=request.path_params["id"], collection=collection, method="token")

    async def revoke_logins(request: Request) -> Response:
        """POST /api/admin/accounts/{collection}/{id}/logout: end every login of the account."""
        who = account(request)

        def revoke() -> None:
            with auth.service.writing() as connection:
                auth.service.revoke_all(connection, str(who.collection), str(who.id))

        await run(revoke)
        return Response(status_code=204)

    async def keys(request: Request) -> Response:
        """GET /api/admin/accounts/{collection}/{id}/keys: the account's live API keys."""
        return json_response({"items": await run(auth.api_keys.list, account(request))})

    async def revoke_key(request: Request) -> Response:
        if not await run(auth.api_keys.revoke, account(request), request.path_params["key"]):
            raise ProblemError(404, "not-found", "no such API key")
        return Response(status_code=204)

    base = "/api/admin/accounts/{collection}/{id}"
    return [
        Route(base + "/logout", revoke_logins, methods=["POST"]),
        Route(base + "/keys", keys, methods=["GET"]),
        Route(base + "/keys/{key}", revoke_key, methods=["DELETE"]),
    ]


def _shape(store: RecordStore, auth: AuthComponents | None) -> dict[str, Any]:
    spec = store.spec
    return {
        "name": spec.name,
        "collections": [
            _collection(name, collection)
            for name, collection in spec.collections.items()
            if collection.link_of is None
        ],
        "jobs": bool(spec.jobs or spec.cron or spec.webhooks),
        "webhooks": bool(spec.webhooks),
        "accounts": sorted(auth.service.options) if auth is not None else [],
    }


def _collection(name: str, collection: Collection) -> dict[str, Any]:
    fields = []
    for field_name, field in collection.fields.items():
        if field.hidden:
            continue
        described: dict[str, Any] = {"name": field_name, "type": field.type}
        for option in _FIELD_OPTIONS:
            value = getattr(field, option)
            if value not in (None, False):
                described[option] = value
        if field.default is not None and field.default != CALLER_DEFAULT:
            described["default"] = field.default
        if field.serial:
            described["serial"] = True  # numbered by the store, never written
        fields.append(described)
    return {
        "name": name,
        "auth": collection.auth_options is not None,
        "serves": [op for op in _OPERATIONS if collection.serves(op)],
        "fields": fields,
        "relations": [
            {"name": n, "to": r.to, "stored": r.stored, "key": r.key}
            for n, r in collection.relations.items()
        ],
    }
