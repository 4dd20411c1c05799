"""Admin-only views of background work: jobs and their states, webhook deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import clock
from ..http.problems import ProblemError
from ..http.records import json_response
from ..store.caller import Caller
from ..store.errors import InvalidQuery
from ..store.records import RecordStore
from .outbox import Outbox
from .tables import DELIVERIES, OUTBOX

STATUSES = ("pending", "running", "retrying", "done", "dead")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    # ASCII digits only: str.isdigit() admits '³' (int() fails) and '٣' (int() reads 3).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= 500:
        raise InvalidQuery("limit is a whole number from 1 to 500", "limit")
    return int(raw)


def _iso(value: dt.datetime | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return clock.aware(value).isoformat()


def job_admin_routes(store: RecordStore, caller_of: Callable[[Request], Caller]) -> list[Route]:
    if OUTBOX not in store.metadata.tables:
        return []
    outbox = store.metadata.tables[OUTBOX]
    deliveries = store.metadata.tables[DELIVERIES]

    def admin_only(request: Request) -> None:
        if not caller_of(request).is_admin:
            raise ProblemError(403, "forbidden", "only admins may see background jobs")

    async def jobs(request: Request) -> Response:
        """GET /api/admin/jobs?status=dead&name=send_receipt&limit=50 (newest first)"""
        admin_only(request)
        params = request.query_params
        query = select(outbox).order_by(outbox.c.created.desc(), outbox.c.id).limit(_limit(request))
        if "status" in params:
            if params["status"] not in STATUSES:
                raise InvalidQuery(f"status is one of {', '.join(STATUSES)}", "status")
            query = query.where(outbox.c.status == params["status"])
        if "name" in params:
            query = query.where(outbox.c.name == params["name"])
        counts = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with store.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            totals = dict(connection.execute(counts).all())
        items = [
            {
                "id": row["id"],
                "kind": row["kind"],
                "name": row["name"],
                "status": row["status"],
                "attempts": row["attempts"],
                "failures": row["failures"],
                "max_attempts": row["max_attempts"],
                "last_error": row["last_error"],
                "run_at": _iso(row["run_at"]),
                "created": _iso(row["created"]),
                "updated": _iso(row["updated"]),
            }
            for row in rows
        ]
        return json_response({"counts": {s: totals.get(s, 0) for s in STATUSES}, "items": items})

    async def webhook_deliveries(request: Request) -> Response:
        """GET /api/admin/webhooks/deliveries?webhook=order_paid&limit=50 (newest first)"""
        admin_only(request)
        query = (
            select(deliveries)
            .order_by(deliveries.c.created.desc(), deliveries.c.attempt.desc())
            .limit(_limit(request))
        )
        if "webhook" in request.query_params:
            query = query.where(deliveries.c.webhook == request.query_params["webhook"])
        with store.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        items = [
            {
                "id": row["id"],
                "webhook": row["webhook"],
                "delivery": row["job_id"],
                "attempt": row["attempt"],
                "status_code": row["status_code"],
                "error": row["error"],
                "created": _iso(row["created"]),
            }
            for row in rows
        ]
        return json_response({"items": items})

    async def retry(request: Request) -> Response:
        """POST /api/admin/jobs/{id}/retry: a dead job is tried again, with all its retries."""
        admin_only(request)
        job_id = request.path_params["id"]
        if not Outbox(store.engine, outbox).revive(job_id):
            raise ProblemError(404, "not-found", f"no dead job '{job_id}'")
        return json_response({"id": job_id, "status": "pending"}, 202)

    return [
        Route("/api/admin/jobs", jobs, methods=["GET"]),
        Route("/api/admin/jobs/{id:path}/retry", retry, methods=["POST"]),
        Route("/api/admin/webhooks/deliveries", webhook_deliveries, methods=["GET"]),
    ]
